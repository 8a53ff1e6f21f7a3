(function () {
  var el = document.getElementById("eval-chart"), data = document.getElementById("eval-data");
  if (!el || !data || !window.echarts) { return; }
  var d = JSON.parse(data.textContent);
  var chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { data: ["派遣", "结案", "按期结案率"] },
    grid: { left: 40, right: 50, bottom: 80 },
    xAxis: { type: "category", data: d.labels, axisLabel: { rotate: 35, interval: 0 } },
    yAxis: [{ type: "value", name: "件" }, { type: "value", name: "%", max: 100 }],
    series: [
      { name: "派遣", type: "bar", data: d.dispatched, itemStyle: { color: "#4299e1" } },
      { name: "结案", type: "bar", data: d.closed, itemStyle: { color: "#2fb344" } },
      { name: "按期结案率", type: "line", yAxisIndex: 1, data: d.on_time, itemStyle: { color: "#d63939" } }
    ]
  });
  window.addEventListener("resize", function () { chart.resize(); });
  el.setAttribute("data-loaded", "1");
})();
