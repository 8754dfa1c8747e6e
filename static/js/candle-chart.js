/* The candle chart (templates/trading/candle_chart.html): the engine's market in the running strategy's candle unit,
   its indicators, every trade as a marker and the open position's exit levels, from GET /chart/candles
   (docs/API.md). It polls for new candles with `after=` and loads older ones with `before=` when the view
   reaches the left edge; nothing reloads the page. The candle still forming (`forming`, sent apart from the
   closed ones) is drawn as the last bar and updated in place by each poll until its closed candle replaces it.

   Times: the server sends UTC epoch seconds and every request uses them as they are. lightweight-charts
   labels a timestamp as UTC, so the labels are made here in Asia/Seoul (localization.timeFormatter for the
   crosshair, timeScale.tickMarkFormatter for the axis) instead of shifting the data by +9 h: shifted data
   would put false times into every poll and page request, and into anything else that reads the series. */
(function () {
  "use strict";

  var root = document.getElementById("panel-candles");
  var LWC = window.LightweightCharts;
  if (!root || !LWC) {
    return;
  }
  var holder = root.querySelector("[data-role=chart]");
  var tooltip = root.querySelector("[data-role=tooltip]");
  var statusLine = root.querySelector("[data-role=status]");
  var ohlcLine = root.querySelector("[data-role=ohlc]");
  var unitLabel = root.querySelector("[data-role=unit]");
  var label = {};
  // Every visible word comes translated from the template's data-label-* attributes.
  Array.prototype.forEach.call(root.attributes, function (attribute) {
    if (attribute.name.indexOf("data-label-") === 0) label[attribute.name.slice(11)] = attribute.value;
  });
  var lang = root.dataset.lang || "en";
  var zone = root.dataset.timeZone || "Asia/Seoul";
  var pollMs = Math.max(2, 2 * Number(root.dataset.pollSec || 2)) * 1000;

  var MARKER_STYLE = {
    entry: { shape: "arrowUp", position: "belowBar", color: "#2b8a3e" },
    exit: { shape: "arrowDown", position: "aboveBar", color: "#e67700" },
    protective: { shape: "square", position: "aboveBar", color: "#c81e1e" },
    manual: { shape: "circle", position: "belowBar", color: "#9c36b5" }
  };
  var LEVEL_COLOR = {
    average: "#687083",
    stop_loss: "#c81e1e",
    atr_stop: "#a61e4d",
    trailing_stop: "#e67700",
    take_profit: "#2b8a3e"
  };

  // --- formatting: Seoul time, 24-hour, the reader's language -------------------------------------
  function dateParts(options) {
    return new Intl.DateTimeFormat(lang, Object.assign({ timeZone: zone, hourCycle: "h23" }, options));
  }
  var fullParts = dateParts({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  // One layout in every language, as the rest of the console writes times: 2026-03-03 06:00:00 (Seoul).
  var fullTime = {
    format: function (date) {
      var part = {};
      fullParts.formatToParts(date).forEach(function (p) { part[p.type] = p.value; });
      return part.year + "-" + part.month + "-" + part.day + " " + part.hour + ":" + part.minute + ":" + part.second;
    }
  };
  var tickTime = dateParts({ hour: "2-digit", minute: "2-digit" });
  var tickDay = dateParts({ month: "2-digit", day: "2-digit" });
  var tickMonth = dateParts({ year: "numeric", month: "2-digit" });
  var tickYear = dateParts({ year: "numeric" });
  function priceText(value) {
    var size = Math.abs(value);
    var digits = size >= 1000 ? 0 : size >= 1 ? 2 : 8;
    return new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(value);
  }
  function volumeText(value) {
    return new Intl.NumberFormat(lang, { maximumFractionDigits: 8 }).format(value);
  }
  function tickMark(time, type) {
    var date = new Date(time * 1000);
    // TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds.
    if (type === 0) return tickYear.format(date);
    if (type === 1) return tickMonth.format(date);
    if (type === 2) return tickDay.format(date);
    return tickTime.format(date);
  }

  // --- state ------------------------------------------------------------------------------------
  var chart = null;
  var candleSeries = null;
  var markerLayer = null;
  var indicators = {}; // key -> {series, pane}
  var levelLines = [];
  var data = null; // {unit, strategy, time[], bars[], series{key: values[]}, markers Map, hasMore}
  var formingBar = null; // the forming candle drawn after the closed ones (never in data.bars), or null
  var busy = false;
  var loadingOlder = false;

  function say(text) {
    statusLine.textContent = text || "";
  }

  function bar(page, i) {
    return { time: page.candles.time[i], open: page.candles.open[i], high: page.candles.high[i], low: page.candles.low[i], close: page.candles.close[i] };
  }

  function points(times, values) {
    var out = new Array(times.length);
    for (var i = 0; i < times.length; i++) {
      // A value without meaning (an indicator's warm-up) is a gap: whitespace data keeps the time slot.
      out[i] = values[i] === null ? { time: times[i] } : { time: times[i], value: values[i] };
    }
    return out;
  }

  function publish() {
    // What the page shows, for people's tools and the browser tests: counts and the first and last candle.
    root.dataset.candles = String(data.time.length);
    root.dataset.firstTime = data.time.length ? String(data.time[0]) : "";
    root.dataset.lastTime = data.time.length ? String(data.time[data.time.length - 1]) : "";
    root.dataset.markers = String(data.markers.size);
    var kinds = {};
    data.markers.forEach(function (m) { kinds[m.kind] = true; });
    root.dataset.markerKinds = Object.keys(kinds).sort().join(",");
    root.dataset.series = Object.keys(indicators).join(",");
    root.dataset.levels = levelLines.map(function (l) { return l.kind; }).join(",");
    root.dataset.hasMore = data.hasMore ? "true" : "false";
    root.dataset.formingTime = formingBar ? String(formingBar.time) : "";
    root.dataset.formingClose = formingBar ? String(formingBar.close) : "";
  }

  // --- building the chart ---------------------------------------------------------------------
  function build(page) {
    if (chart) {
      chart.remove();
      holder.appendChild(tooltip); // chart.remove() empties the holder
    }
    indicators = {};
    levelLines = [];
    // The library's logo injects a <style> element, which the page's Content-Security-Policy refuses; the panel
    // carries the attribution and the link to TradingView as text instead (candle_chart.html, the licence's terms).
    chart = LWC.createChart(holder, {
      autoSize: true,
      layout: { background: { type: "solid", color: "#ffffff" }, textColor: "#1d2330", fontSize: 11, attributionLogo: false },
      grid: { vertLines: { color: "#f1f3f5" }, horzLines: { color: "#f1f3f5" } },
      localization: {
        locale: lang,
        timeFormatter: function (time) { return fullTime.format(new Date(time * 1000)); },
        priceFormatter: priceText
      },
      timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: tickMark, rightOffset: 4 },
      rightPriceScale: { borderVisible: false },
      crosshair: { mode: 0 }
    });
    // Korean convention, as in the rest of the console: rises red, falls blue.
    candleSeries = chart.addSeries(LWC.CandlestickSeries, {
      upColor: "#c81e1e", downColor: "#1d4ed8", borderVisible: false, wickUpColor: "#c81e1e", wickDownColor: "#1d4ed8"
    });
    markerLayer = LWC.createSeriesMarkers(candleSeries, []);
    page.series.forEach(function (spec) {
      var kind = spec.type === "histogram" ? LWC.HistogramSeries : LWC.LineSeries;
      var options = { color: spec.color, priceLineVisible: false, lastValueVisible: spec.pane > 0, title: spec.label };
      if (spec.type !== "histogram") {
        options.lineWidth = 2;
        if (spec.step) options.lineType = 1; // a level that holds for the day: steps, not slopes
      }
      indicators[spec.key] = { series: chart.addSeries(kind, options, spec.pane), pane: spec.pane };
    });
    page.guides.forEach(function (guide) {
      var owner = indicators[guide.series];
      if (owner) {
        owner.series.createPriceLine({ price: guide.price, color: "#adb5bd", lineWidth: 1, lineStyle: 2, axisLabelVisible: true, title: guide.label });
      }
    });
    var panes = chart.panes ? chart.panes() : [];
    if (panes.length > 1 && panes[1].setHeight) {
      panes[1].setHeight(Math.round(holder.clientHeight * 0.28));
    }
    chart.subscribeCrosshairMove(hover);
    chart.timeScale().subscribeVisibleLogicalRangeChange(function (range) {
      if (range && range.from < 3 && data && data.hasMore && !loadingOlder) {
        loadOlder();
      }
    });
  }

  function fill() {
    var bars = new Array(data.time.length);
    for (var i = 0; i < data.time.length; i++) bars[i] = data.bars[i];
    candleSeries.setData(bars);
    if (formingBar) candleSeries.update(formingBar);
    Object.keys(indicators).forEach(function (key) {
      indicators[key].series.setData(points(data.time, data.series[key] || []));
    });
    drawMarkers();
  }

  function drawMarkers() {
    var list = [];
    var first = data.time.length ? data.time[0] : Infinity;
    data.markers.forEach(function (m) {
      if (m.time < first) return;
      var style = MARKER_STYLE[m.kind] || MARKER_STYLE.manual;
      var position = m.kind === "manual" ? (m.side === "buy" ? "belowBar" : "aboveBar") : style.position;
      list.push({ id: String(m.id), time: m.time, position: position, shape: style.shape, color: style.color, text: label[m.side] || m.side });
    });
    list.sort(function (a, b) { return a.time - b.time; });
    markerLayer.setMarkers(list);
  }

  function drawLevels(levels) {
    if (levels === null || levels === undefined) return; // an older page does not speak for the position
    levelLines.forEach(function (line) { candleSeries.removePriceLine(line.line); });
    levelLines = levels.map(function (level) {
      var line = candleSeries.createPriceLine({
        price: level.price, color: LEVEL_COLOR[level.kind] || "#687083", lineWidth: 1,
        lineStyle: level.kind === "average" ? 1 : 2, axisLabelVisible: true, title: label[level.kind] || level.kind
      });
      return { kind: level.kind, line: line };
    });
  }

  // The forming candle: one bar after the closed ones, updated in place; removed when it closed (its closed candle
  // then comes as a new candle) or the engine stopped cycling (the server sends null).
  function drawForming(forming) {
    var last = data.time.length ? data.time[data.time.length - 1] : -Infinity;
    var next = forming && forming.time > last
      ? { time: forming.time, open: forming.open, high: forming.high, low: forming.low, close: forming.close }
      : null;
    if (formingBar && (!next || next.time !== formingBar.time)) {
      candleSeries.pop(1);
      formingBar = null;
    }
    if (next) {
      candleSeries.update(next);
      formingBar = next;
    }
  }

  // --- hover: the candle's prices and the reasons of its trades --------------------------------
  function hover(param) {
    if (!param || param.time === undefined || !param.point) {
      tooltip.hidden = true;
      return;
    }
    var candle = param.seriesData.get(candleSeries);
    if (candle && candle.open !== undefined) {
      ohlcLine.textContent = fullTime.format(new Date(param.time * 1000)) + "  O " + priceText(candle.open) + "  H " + priceText(candle.high) +
        "  L " + priceText(candle.low) + "  C " + priceText(candle.close);
    }
    var here = [];
    data.markers.forEach(function (m) { if (m.time === param.time) here.push(m); });
    if (!here.length) {
      tooltip.hidden = true;
      return;
    }
    tooltip.replaceChildren();
    here.forEach(function (m) {
      var head = document.createElement("p");
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = label[m.kind] + " · " + (label[m.side] || m.side);
      head.appendChild(kind);
      head.appendChild(document.createTextNode(" " + fullTime.format(new Date(m.at * 1000)) + " · " +
        (m.price === null ? "" : priceText(m.price) + " KRW · ") + volumeText(m.volume)));
      tooltip.appendChild(head);
      [m.reason, m.explanation].forEach(function (text) {
        if (text) {
          var line = document.createElement("p");
          line.textContent = text; // text, never HTML: reasons carry user names and numbers
          tooltip.appendChild(line);
        }
      });
    });
    tooltip.hidden = false;
    var width = holder.clientWidth;
    var left = Math.min(Math.max(0, param.point.x + 14), Math.max(0, width - tooltip.offsetWidth));
    tooltip.style.left = left + "px";
    tooltip.style.top = Math.max(0, param.point.y - tooltip.offsetHeight - 10) + "px";
  }

  // --- data -------------------------------------------------------------------------------------
  function fetchPage(params) {
    var query = new URLSearchParams(params).toString();
    return fetch(root.dataset.url + (query ? "?" + query : ""), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) throw new Error(body.error || String(response.status));
          return body;
        });
      });
  }

  function absorb(page) {
    var bars = [];
    for (var i = 0; i < page.candles.time.length; i++) bars.push(bar(page, i));
    var series = {};
    page.series.forEach(function (spec) { series[spec.key] = spec.values; });
    return { time: page.candles.time, bars: bars, series: series };
  }

  function addMarkers(list) {
    list.forEach(function (m) { data.markers.set(m.id, m); });
  }

  function start(page) {
    var got = absorb(page);
    data = { unit: page.unit, strategy: page.strategy, time: got.time, bars: got.bars, series: got.series, markers: new Map(), hasMore: page.has_more };
    addMarkers(page.markers);
    unitLabel.textContent = "· " + page.strategy_title + " · " +
      (page.unit >= 1440 ? label.day : label.minutes.replace("%(n)s", String(page.unit)));
    formingBar = null;
    build(page);
    fill();
    drawForming(page.forming);
    drawLevels(page.levels);
    var count = data.time.length;
    if (count) {
      // Start on the newest candles (about 8 px each); the rest is a drag to the left away.
      var shown = Math.max(30, Math.round(holder.clientWidth / 8));
      chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, count - shown), to: count + 3 });
    }
    say(count ? "" : label.empty);
    publish();
    root.dataset.state = "ready";
  }

  function load() {
    busy = true;
    return fetchPage({})
      .then(start)
      .catch(function (error) { say(label.failed + " " + error.message); root.dataset.state = "failed"; if (window.console) console.warn(error.stack); })
      .then(function () { busy = false; });
  }

  function poll() {
    if (busy || loadingOlder || document.visibilityState !== "visible") return;
    if (!data || !data.time.length) {
      load();
      return;
    }
    busy = true;
    fetchPage({ after: data.time[data.time.length - 1] })
      .then(function (page) {
        if (page.unit !== data.unit || page.strategy !== data.strategy) {
          return fetchPage({}).then(start); // the strategy or its unit changed: a new chart
        }
        var got = absorb(page);
        var last = data.time[data.time.length - 1];
        if (formingBar && got.time.length && got.time[got.time.length - 1] > last) {
          candleSeries.pop(1); // closed candles come in: they go before any forming one
          formingBar = null;
        }
        for (var i = 0; i < got.time.length; i++) {
          if (got.time[i] <= last) continue;
          data.time.push(got.time[i]);
          data.bars.push(got.bars[i]);
          candleSeries.update(got.bars[i]);
          Object.keys(indicators).forEach(function (key) {
            var value = (got.series[key] || [])[i];
            (data.series[key] = data.series[key] || []).push(value === undefined ? null : value);
            indicators[key].series.update(value === null || value === undefined ? { time: got.time[i] } : { time: got.time[i], value: value });
          });
        }
        drawForming(page.forming);
        addMarkers(page.markers);
        if (page.markers.length) drawMarkers();
        drawLevels(page.levels);
        say("");
        publish();
      })
      .catch(function (error) { say(label.failed + " " + error.message); })
      .then(function () { busy = false; });
  }

  function loadOlder() {
    loadingOlder = true;
    say(label.older);
    fetchPage({ before: data.time[0] })
      .then(function (page) {
        var got = absorb(page);
        var added = got.time.length;
        var range = chart.timeScale().getVisibleLogicalRange();
        data.time = got.time.concat(data.time);
        data.bars = got.bars.concat(data.bars);
        Object.keys(indicators).forEach(function (key) {
          data.series[key] = (got.series[key] || new Array(added).fill(null)).concat(data.series[key] || []);
        });
        data.hasMore = page.has_more;
        addMarkers(page.markers);
        fill();
        if (range) {
          // Keep the same candles in view: the new ones came in on the left.
          chart.timeScale().setVisibleLogicalRange({ from: range.from + added, to: range.to + added });
        }
        say(data.hasMore ? "" : label.oldest);
        publish();
      })
      .catch(function (error) { say(label.failed + " " + error.message); })
      .then(function () { loadingOlder = false; });
  }

  load();
  window.setInterval(poll, pollMs);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") poll();
  });
})();
