/* Costs page: the most expensive groups as horizontal bars. */
(function () {
  "use strict";

  function draw() {
    var H = window.InfraPrismCharts;
    var data = H.readJSON("costs-data");
    var canvas = document.getElementById("costs-chart");
    if (!data || !canvas || !window.Chart) return;
    // A bar per group, each about 28 px high, so three groups do not fill a tall box.
    canvas.parentNode.style.height = Math.max(140, data.labels.length * 28 + 50) + "px";
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels.map(function (l) { return l.length > 40 ? l.slice(0, 39) + "…" : l; }),
        datasets: [{label: "Total cost", data: data.costs, backgroundColor: H.palette.accentSoft,
                    borderColor: H.palette.accent, borderWidth: 1}]
      },
      options: {
        indexAxis: "y",
        scales: {x: {beginAtZero: true, ticks: {callback: H.usdTick}}},
        plugins: {legend: {display: false}, tooltip: {callbacks: {
          title: function (items) { return data.labels[items[0].dataIndex]; },
          label: function (item) {
            var i = item.dataIndex;
            return [H.usd(data.costs[i]) + "  ($" + data.exact[i] + ")", H.int(data.calls[i]) + " calls"];
          }
        }}}
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
