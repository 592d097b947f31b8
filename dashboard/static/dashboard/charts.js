/* Shared helpers of the dashboard's charts. Page data comes from json_script tags (no inline
 * scripts: the Content-Security-Policy allows only these files). */
(function () {
  "use strict";

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // Like the guide: four decimals; a non-zero amount below that reads "<$0.0001".
  function usd(value) {
    if (value > 0 && value < 0.00005) return "<$0.0001";
    return "$" + Number(value).toLocaleString("en-US", {minimumFractionDigits: 4, maximumFractionDigits: 4});
  }

  // Compact amounts for axis ticks.
  function usdTick(value) {
    if (value === 0) return "$0";
    if (Math.abs(value) >= 1) return "$" + Number(value).toLocaleString("en-US", {maximumFractionDigits: 2});
    var short = String(Number(Number(value).toPrecision(2)));
    return "$" + (short.indexOf("e") >= 0 ? Number(value).toFixed(9).replace(/0+$/, "") : short);
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "—";
    var s = ms / 1000;
    if (s === 0) return "0 s";
    if (s < 60) return (s < 10 && s % 1 ? s.toFixed(2) : String(Math.round(s * 10) / 10)) + " s";
    var m = Math.floor(s / 60), rs = Math.floor(s % 60);
    if (m < 60) return m + " min" + (rs ? " " + String(rs).padStart(2, "0") + " s" : "");
    var h = Math.floor(m / 60), rm = m % 60;
    if (h < 48) return h + " h" + (rm ? " " + String(rm).padStart(2, "0") + " min" : "");
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  function int(n) { return Number(n).toLocaleString("en-US"); }

  var palette = {accent: "#3b5bdb", accentSoft: "rgba(59, 91, 219, 0.25)", line: "#f08c00",
                 error: "#c92a2a", grid: "#eceef3", muted: "#667085"};

  if (window.Chart) {
    Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    Chart.defaults.color = palette.muted;
    Chart.defaults.borderColor = palette.grid;
    Chart.defaults.maintainAspectRatio = false;
    // Drawn at once: a chart is read, not watched (and screenshots never catch it mid-way).
    Chart.defaults.animation = false;
  }

  window.InfraPrismCharts = {readJSON: readJSON, usd: usd, usdTick: usdTick, duration: duration,
                             int: int, palette: palette};
})();
