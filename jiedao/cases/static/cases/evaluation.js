(function () {
  var el = document.getElementById("eval-chart"), data = document.getElementById("eval-data");
  if (!el || !data || !window.echarts) { return; }
  var d = JSON.parse(data.textContent);
  var chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { top: 0, data: ["派遣", "结案", "按期结案率"] },
    grid: { left: 40, right: 50, top: 48, bottom: 80 },
    xAxis: { type: "category", data: d.labels, axisLabel: { rotate: 35, interval: 0 } },
    yAxis: [{ type: "value", name: "件", minInterval: 1 }, { type: "value", name: "%", min: 0, max: 100 }],
    series: [
      { name: "派遣", type: "bar", barMaxWidth: 40, data: d.dispatched, itemStyle: { color: "#4299e1" } },
      { name: "结案", type: "bar", barMaxWidth: 40, data: d.closed, itemStyle: { color: "#2fb344" } },
      { name: "按期结案率", type: "line", yAxisIndex: 1, data: d.on_time, itemStyle: { color: "#d63939" } }
    ]
  });
  chart.on("finished", function () { el.setAttribute("data-rendered", "1"); });  // animations done
  window.addEventListener("resize", function () { chart.resize(); });
  el.setAttribute("data-loaded", "1");
})();
