// The console's backtest charts (lightweight-charts v5, vendored): price with every trade as a marker, equity vs
// buy and hold, drawdown, and two runs' equity side by side. The data comes from <script type="application/json">
// islands on the page; times are UTC epoch seconds, shown in Seoul time (UTC+9, no daylight saving).
(function () {
  "use strict";
  var SEOUL = 9 * 3600;
  var LC = window.LightweightCharts;

  function island(id) {
    var node = id && document.getElementById(id);
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (error) { return null; }
  }

  function seoul(t) { return t + SEOUL; }

  function krw(value) { return Math.round(value).toLocaleString("en-US"); }

  function makeChart(container) {
    var chart = LC.createChart(container, {
      autoSize: true,
      // The logo adds an inline <style> the page's CSP refuses; the attribution is a link under the charts instead.
      layout: { background: { color: "#ffffff" }, textColor: "#334155", fontSize: 11, attributionLogo: false },
      grid: { vertLines: { color: "#f1f5f9" }, horzLines: { color: "#f1f5f9" } },
      timeScale: { timeVisible: true, secondsVisible: false },
      localization: { priceFormatter: krw },
      rightPriceScale: { scaleMargins: { top: 0.1, bottom: 0.1 } },
    });
    container.dataset.ready = "true";
    return chart;
  }

  function line(bars, key) {
    var out = [];
    for (var i = 0; i < bars.length; i++) {
      if (bars[i][key] !== null && bars[i][key] !== undefined) out.push({ time: seoul(bars[i].t), value: bars[i][key] });
    }
    return out;
  }

  function priceChart(container, data) {
    var chart = makeChart(container);
    var candles = chart.addSeries(LC.CandlestickSeries, {
      upColor: "#dc2626", downColor: "#2563eb", borderVisible: false, wickUpColor: "#dc2626", wickDownColor: "#2563eb",
    });
    candles.setData(data.bars.map(function (bar) {
      return { time: seoul(bar.t), open: bar.o, high: bar.h, low: bar.l, close: bar.c };
    }));
    // One marker per bar and side (the server groups the trades); labels only while they stay readable, and with
    // many markers the arrows alone (buy up, sell down) tell them apart.
    var labelled = data.markers.length <= 40;
    var markers = data.markers.map(function (mark) {
      var buy = mark.side === "buy";
      return {
        time: seoul(mark.t),
        position: buy ? "belowBar" : "aboveBar",
        color: buy ? "#16a34a" : "#dc2626",
        shape: buy ? "arrowUp" : "arrowDown",
        text: labelled ? (buy ? "B " : "S ") + (mark.count > 1 ? "×" + mark.count : mark.reason) : "",
      };
    });
    markers.sort(function (a, b) { return a.time - b.time; });
    LC.createSeriesMarkers(candles, markers);
    container.dataset.markers = String(markers.length);
    chart.timeScale().fitContent();
  }

  function equityChart(container, data) {
    var chart = makeChart(container);
    chart.addSeries(LC.LineSeries, { color: "#2563eb", lineWidth: 2, title: container.dataset.labelEquity || "equity" })
      .setData(line(data.bars, "eq"));
    chart.addSeries(LC.LineSeries, { color: "#94a3b8", lineWidth: 1, title: container.dataset.labelHold || "buy & hold" })
      .setData(line(data.bars, "bh"));
    chart.timeScale().fitContent();
  }

  function drawdownChart(container, data) {
    var chart = makeChart(container);
    chart.applyOptions({ localization: { priceFormatter: function (v) { return v.toFixed(2) + "%"; } } });
    chart.addSeries(LC.AreaSeries, {
      lineColor: "#dc2626", topColor: "rgba(220,38,38,0.05)", bottomColor: "rgba(220,38,38,0.35)", lineWidth: 1,
    }).setData(line(data.bars, "dd"));
    chart.timeScale().fitContent();
  }

  function compareChart(container, left, right) {
    var chart = makeChart(container);
    chart.addSeries(LC.LineSeries, { color: "#2563eb", lineWidth: 2, title: container.dataset.labelLeft || "A" })
      .setData(line(left.bars, "eq"));
    chart.addSeries(LC.LineSeries, { color: "#f59e0b", lineWidth: 2, title: container.dataset.labelRight || "B" })
      .setData(line(right.bars, "eq"));
    chart.timeScale().fitContent();
  }

  function draw() {
    if (!LC) return;
    var containers = document.querySelectorAll("[data-backtest-chart]");
    for (var i = 0; i < containers.length; i++) {
      var container = containers[i];
      if (container.dataset.ready) continue;
      var data = island(container.dataset.source);
      if (!data || !data.bars) continue;
      var kind = container.dataset.backtestChart;
      if (kind === "price") priceChart(container, data);
      else if (kind === "equity") equityChart(container, data);
      else if (kind === "drawdown") drawdownChart(container, data);
      else if (kind === "compare") {
        var right = island(container.dataset.sourceRight);
        if (right && right.bars) compareChart(container, data, right);
      }
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
