// The manager's pages of the inspection engine: the score chart (ECharts) and the map of findings (Leaflet).
// Each sets data-loaded when its data is in (the map: the number of failed inspections) and data-rendered when
// it has finished drawing (animations included).
(function () {
  // The trend of one target's monthly average score.
  var tEl = document.getElementById("trend-chart"), tData = document.getElementById("trend-data");
  if (tEl && tData && window.echarts) {
    var points = JSON.parse(tData.textContent);
    var tChart = echarts.init(tEl);
    tChart.on("finished", function () { tEl.setAttribute("data-rendered", "1"); });
    tChart.setOption({
      tooltip: { trigger: "axis" }, grid: { left: 40, right: 20, bottom: 40 },
      xAxis: { type: "category", data: points.map(function (p) { return p.month; }) },
      yAxis: { type: "value", min: 0 },
      series: [{ type: "line", data: points.map(function (p) { return p.avg_score; }), label: { show: true },
        itemStyle: { color: "#206bc4" } }]
    });
    window.addEventListener("resize", function () { tChart.resize(); });
    tEl.setAttribute("data-loaded", "1");
  }
  var el = document.getElementById("score-chart"), data = document.getElementById("score-data");
  if (el && data && window.echarts) {
    var d = JSON.parse(data.textContent);
    var top = Math.max.apply(null, [100].concat(d.scores));  // a template may score above 100
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" }, grid: { left: 44, right: 20, top: 36, bottom: 90 },
      xAxis: { type: "category", data: d.labels,
               axisLabel: { rotate: d.labels.length > 6 ? 40 : 0, interval: 0, width: 120, overflow: "truncate" } },
      yAxis: { type: "value", name: "平均得分", min: 0, max: top },
      series: [{ type: "bar", barMaxWidth: 48, data: d.scores, itemStyle: { color: "#2fb344" },
                 label: { show: true, position: "top" } }]
    });
    chart.on("finished", function () { el.setAttribute("data-rendered", "1"); });
    window.addEventListener("resize", function () { chart.resize(); });
    el.setAttribute("data-loaded", "1");
  }

  var box = document.getElementById("findings-map");
  if (box && window.L) {
    var summary = document.getElementById("findings-summary");
    var m = L.map(box).setView([31.332, 121.507], 14);
    var tileUrl = box.getAttribute("data-tile-url");
    if (tileUrl) { L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(m); }
    var json = function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); };
    Promise.all([
      fetch(box.getAttribute("data-layers-url"), { credentials: "same-origin" }).then(json),
      fetch(box.getAttribute("data-url"), { credentials: "same-origin" }).then(json)
    ]).then(function (res) {
      var grids = L.geoJSON(res[0].grids, { style: { color: "#206bc4", weight: 1, fillOpacity: 0.12 } }).addTo(m);
      // Failed inspections of one place share its point: one marker per place, sized by how many.
      var spots = {};
      res[1].features.forEach(function (f) {
        var c = f.geometry.coordinates, key = c[1].toFixed(6) + "," + c[0].toFixed(6);
        (spots[key] = spots[key] || { ll: [c[1], c[0]], items: [] }).items.push(f.properties);
      });
      var markers = L.featureGroup().addTo(m);
      Object.keys(spots).forEach(function (key) {
        var spot = spots[key], n = spot.items.length;
        var marker = L.circleMarker(spot.ll, { radius: Math.min(6 + 2 * (n - 1), 14), color: "#fff", weight: 1,
                                               fillColor: "#d63939", fillOpacity: 0.9 });
        var list = document.createElement("div");
        list.className = "findings-popup";
        spot.items.forEach(function (p) {
          var a = document.createElement("a");
          a.href = "/inspections/" + p.id + "/";
          a.textContent = p.date + " " + p.target + " · " + p.template + "（" + p.failed + " 项不合格）";
          list.appendChild(a);
        });
        marker.bindPopup(list).addTo(markers);
      });
      var bounds = grids.getBounds();
      if (markers.getLayers().length) { bounds = bounds.isValid() ? bounds.extend(markers.getBounds()) : markers.getBounds(); }
      if (bounds.isValid()) { m.fitBounds(bounds, { padding: [12, 12], maxZoom: 17 }); }
      var n = res[1].features.length;
      if (summary) {
        summary.textContent = n ? "共 " + n + " 次不合格检查，" + Object.keys(spots).length + " 处地点。点击红点查看记录。"
          : "近90天没有不合格的检查。";
      }
      box.setAttribute("data-loaded", String(n));
    }).catch(function () {
      if (summary) { summary.textContent = "地图数据加载失败，请刷新重试。"; summary.classList.add("text-danger"); }
      box.setAttribute("data-error", "1");
    });
  }
})();
