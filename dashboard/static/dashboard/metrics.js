/* Metrics page: sessions and cost per day; histograms of cost and turns per session, drawn
 * when htmx brings their fragment (a second request, so the numbers are not held up). */
(function () {
  "use strict";

  function draw() {
    var H = window.InfraPrismCharts;
    var data = H.readJSON("metrics-data");
    if (!data || !window.Chart) return;

    var series = document.getElementById("series-chart");
    if (series) {
      new Chart(series, {
        data: {
          labels: data.series.map(function (d) { return d.date; }),
          datasets: [
            {type: "bar", label: "Sessions", data: data.series.map(function (d) { return d.session_count; }),
             backgroundColor: H.palette.accentSoft, borderColor: H.palette.accent, borderWidth: 1, yAxisID: "count"},
            {type: "line", label: "Total cost", data: data.series.map(function (d) { return d.total_cost; }),
             borderColor: H.palette.line, backgroundColor: H.palette.line, pointRadius: data.series.length > 60 ? 0 : 3, yAxisID: "cost"}
          ]
        },
        options: {
          interaction: {mode: "index", intersect: false},
          scales: {
            count: {position: "left", beginAtZero: true, title: {display: true, text: "Sessions"}, ticks: {precision: 0}},
            cost: {position: "right", beginAtZero: true, grid: {drawOnChartArea: false}, title: {display: true, text: "Cost"}, ticks: {callback: H.usdTick}}
          },
          plugins: {legend: {position: "bottom"}, tooltip: {callbacks: {label: function (item) {
            var d = data.series[item.dataIndex];
            return item.datasetIndex === 0 ? "Sessions: " + H.int(d.session_count) + " (avg " + d.avg_turns.toFixed(2) + " turns)" : "Cost: " + H.usd(d.total_cost);
          }}}}
        }
      });
    }
  }

  function drawHistograms() {
    var H = window.InfraPrismCharts;
    var holder = document.getElementById("histograms");
    var canvas = document.getElementById("cost-histogram");
    if (!holder || !canvas || !window.Chart || Chart.getChart(canvas)) return;  // not yet, or drawn
    var data = JSON.parse(holder.getAttribute("data-histograms"));

    function histogram(id, buckets, isCost) {
      var canvas = document.getElementById(id);
      if (!canvas) return;
      // Bars are labelled by their lower edge; the tooltip gives the whole range.
      function label(b) {
        if (b.high === null) return (isCost ? "≥ " + H.usdTick(b.low) : b.low + "+");
        if (isCost) return H.usdTick(b.low);
        return b.high - b.low === 1 ? String(b.low) : b.low + "–" + (b.high - 1);
      }
      new Chart(canvas, {
        type: "bar",
        data: {labels: buckets.map(label),
               datasets: [{label: "Sessions", data: buckets.map(function (b) { return b.count; }),
                           backgroundColor: H.palette.accentSoft, borderColor: H.palette.accent, borderWidth: 1,
                           barPercentage: 1.0, categoryPercentage: 0.95}]},
        options: {
          scales: {y: {beginAtZero: true, ticks: {precision: 0}, title: {display: true, text: "Sessions"}},
                   x: {ticks: {maxRotation: 0, autoSkipPadding: 8},
                       title: {display: true, text: isCost ? "Cost per session (from)" : "Turns per session"}}},
          plugins: {legend: {display: false}, tooltip: {callbacks: {
            title: function (items) {
              var b = buckets[items[0].dataIndex];
              if (b.high === null) return (isCost ? H.usd(b.low) + " or more" : b.low + " turns or more") + " (above the 95th percentile)";
              return isCost ? H.usd(b.low) + " to " + H.usd(b.high) : label(b) + " turns";
            }
          }}}
        }
      });
    }
    histogram("cost-histogram", data.cost, true);
    histogram("turns-histogram", data.turns, false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
  document.addEventListener("htmx:load", drawHistograms);
})();
