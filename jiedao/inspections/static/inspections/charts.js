(function () {
  var el = document.getElementById("score-chart"), data = document.getElementById("score-data");
  if (el && data && window.echarts) {
    var d = JSON.parse(data.textContent);
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" }, grid: { left: 40, right: 20, bottom: 90 },
      xAxis: { type: "category", data: d.labels, axisLabel: { rotate: 40, interval: 0 } },
      yAxis: { type: "value", name: "分", max: 100 },
      series: [{ type: "bar", data: d.scores, itemStyle: { color: "#2fb344" } }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
    el.setAttribute("data-loaded", "1");
  }
  var map = document.getElementById("findings-map");
  if (map && window.L) {
    var m = L.map(map).setView([31.332, 121.507], 14);
    Promise.all([
      fetch("/api/v1/places/map", { credentials: "same-origin" }).then(function (r) { return r.json(); }),
      fetch(map.getAttribute("data-url"), { credentials: "same-origin" }).then(function (r) { return r.json(); })
    ]).then(function (res) {
      var g = L.geoJSON(res[0].grids, { style: { color: "#206bc4", weight: 1, fillOpacity: 0.15 } }).addTo(m);
      L.geoJSON(res[1], {
        pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 6, color: "#fff", weight: 1, fillColor: "#d63939", fillOpacity: 0.9 }); },
        onEachFeature: function (f, layer) {
          var a = document.createElement("a");
          a.href = "/inspections/" + f.properties.id + "/";
          a.textContent = f.properties.date + " " + f.properties.target + " · " + f.properties.template + "（" + f.properties.failed + " 项不合格）";
          layer.bindPopup(a);
        }
      }).addTo(m);
      if (g.getBounds().isValid()) { m.fitBounds(g.getBounds()); }
      map.setAttribute("data-loaded", String(res[1].features.length));
    });
  }
})();
