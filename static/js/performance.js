/* The Performance panel's day / week / month tabs: show one period's table, remember the choice across polls
   (the panel is replaced on every change). Without this script all three tables are shown. */
(function () {
  "use strict";
  var KEY = "autocoin.performance.period";

  function chosen() {
    try { return window.sessionStorage.getItem(KEY) || "day"; } catch (error) { return "day"; }
  }

  function apply(root) {
    var panel = root.id === "panel-performance" ? root : root.querySelector("#panel-performance");
    if (!panel) { return; }
    var period = chosen();
    panel.querySelectorAll("[data-period]").forEach(function (table) {
      table.hidden = table.getAttribute("data-period") !== period;
    });
    panel.querySelectorAll("[data-period-tab]").forEach(function (tab) {
      tab.setAttribute("aria-selected", tab.getAttribute("data-period-tab") === period ? "true" : "false");
    });
  }

  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest("[data-period-tab]");
    if (!tab) { return; }
    try { window.sessionStorage.setItem(KEY, tab.getAttribute("data-period-tab")); } catch (error) { /* private mode */ }
    apply(document);
  });
  // afterSwap: at once, before the new panel is painted; load: also for panels htmx settles later.
  document.body.addEventListener("htmx:afterSwap", function () { apply(document); });
  document.body.addEventListener("htmx:load", function (event) { apply(event.target); });
  apply(document);
})();
