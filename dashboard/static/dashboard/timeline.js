/* Session timeline: one dot per call at its offset from the session's start (height = the
 * call's cost, red for errors) and the running total as a stepped line on the right axis.
 * "Call number" spreads the calls evenly when long gaps squeeze them together. */
(function () {
  "use strict";

  function draw() {
    var H = window.InfraPrismCharts;
    var steps = H.readJSON("timeline-data");
    var canvas = document.getElementById("timeline-chart");
    if (!steps || !canvas || !window.Chart) return;
    var many = steps.length > 150;
    var axis = "time";

    // Time ticks on round steps (10 s, 1 min, 5 min, 1 h ...), about ten across.
    var niceSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
    function timeStep() {
      var span = steps.length ? steps[steps.length - 1].offset_ms / 1000 : 1;
      for (var i = 0; i < niceSteps.length; i++) if (span / niceSteps[i] <= 10) return niceSteps[i];
      return Math.ceil(span / 10 / 86400) * 86400;
    }

    function xOf(step) { return axis === "time" ? step.offset_ms / 1000 : step.step; }
    function points() { return steps.map(function (s) { return {x: xOf(s), y: s.cost, step: s}; }); }
    function running() { return steps.map(function (s) { return {x: xOf(s), y: s.cumulative_cost, step: s}; }); }

    var chart = new Chart(canvas, {
      data: {
        datasets: [
          {
            type: "scatter", label: "Call cost", data: points(), yAxisID: "cost", order: 1,
            pointRadius: many ? 2.5 : 5, pointHoverRadius: many ? 5 : 7,
            pointBackgroundColor: steps.map(function (s) { return s.status === "error" ? H.palette.error : H.palette.accent; }),
            pointBorderColor: "#fff", pointBorderWidth: many ? 0 : 1
          },
          {
            type: "line", label: "Cumulative cost", data: running(), yAxisID: "cumulative", order: 2,
            stepped: "after", borderColor: H.palette.line, borderWidth: 2, pointRadius: 0,
            pointHitRadius: 0, fill: false
          }
        ]
      },
      options: {
        parsing: false,
        interaction: {mode: "nearest", intersect: false, axis: "x"},
        scales: {
          x: {
            type: "linear", min: 0,
            title: {display: true, text: "Time since the session started"},
            ticks: {callback: function (v) { return axis === "time" ? H.duration(v * 1000) : "#" + v; },
                    stepSize: timeStep(), maxTicksLimit: 12}
          },
          cost: {type: "linear", position: "left", beginAtZero: true, grace: "10%",
                 title: {display: true, text: "Cost per call"}, ticks: {callback: H.usdTick}},
          cumulative: {type: "linear", position: "right", beginAtZero: true, grace: "5%", grid: {drawOnChartArea: false},
                       title: {display: true, text: "Cumulative cost"}, ticks: {callback: H.usdTick}}
        },
        plugins: {
          legend: {position: "bottom"},
          tooltip: {
            filter: function (item) { return item.datasetIndex === 0; },
            callbacks: {
              title: function (items) {
                var s = items[0].raw.step;
                return "Call #" + s.step + " · " + s.model + " · +" + H.duration(s.offset_ms);
              },
              label: function (item) {
                var s = item.raw.step;
                return [
                  "Cost: " + H.usd(s.cost) + "  ($" + s.cost_exact + ")",
                  "Tokens: " + H.int(s.input_tokens) + " in / " + H.int(s.output_tokens) + " out / " + H.int(s.cached_input_tokens) + " cached",
                  "Cumulative: " + H.usd(s.cumulative_cost),
                  "Gap since previous call: " + (s.gap_ms === null ? "first call" : H.duration(s.gap_ms)),
                  "Latency: " + (s.latency_ms === null ? "—" : H.int(s.latency_ms) + " ms") + " · " + s.status
                ];
              }
            }
          }
        }
      }
    });

    document.querySelectorAll("[data-axis]").forEach(function (button) {
      button.addEventListener("click", function () {
        axis = button.getAttribute("data-axis");
        document.querySelectorAll("[data-axis]").forEach(function (b) {
          b.setAttribute("aria-pressed", String(b === button));
        });
        chart.data.datasets[0].data = points();
        chart.data.datasets[1].data = running();
        chart.options.scales.x.title.text = axis === "time" ? "Time since the session started" : "Call number";
        chart.options.scales.x.min = axis === "time" ? 0 : 1;
        chart.options.scales.x.ticks.stepSize = axis === "time" ? timeStep() : undefined;
        chart.update();
      });
    });
    canvas.setAttribute("data-marks", String(chart.getDatasetMeta(0).data.length));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
