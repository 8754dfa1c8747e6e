/* Each polled panel says when its figures stopped updating: while its polls fail (no answer, or an error
   answer) it gets the class "stale" and a line "not updated since 12:34:56" (the time of its last good
   answer, in the dashboard's time zone); the next good answer clears both. The page-wide banner
   (dashboard.js) says why; this says which figures are old. */
(function () {
  "use strict";

  var texts = document.getElementById("connection-problem");
  if (!texts || !texts.dataset.stale) {
    return;
  }
  var timeZone = texts.dataset.timeZone || undefined;
  var lastGood = {};
  var loadedAt = new Date();

  function clock(when) {
    try {
      return when.toLocaleTimeString("en-GB", { timeZone: timeZone, hour12: false });
    } catch (error) {
      return when.toLocaleTimeString("en-GB", { hour12: false });
    }
  }

  function panelOf(elt) {
    return elt && elt.closest ? elt.closest("[id^='panel-']") : null;
  }

  function markStale(panel) {
    var since = lastGood[panel.id] || loadedAt;
    var text = texts.dataset.stale.replace("{time}", clock(since));
    panel.classList.add("stale");
    panel.dataset.stale = "true";
    var marker = panel.querySelector(":scope > .stale-marker");
    if (!marker) {
      marker = document.createElement("p");
      marker.className = "stale-marker";
      marker.setAttribute("role", "status");
      var heading = panel.querySelector(":scope > h2");
      if (heading) {
        heading.insertAdjacentElement("afterend", marker);
      } else {
        panel.insertBefore(marker, panel.firstChild);
      }
    }
    marker.textContent = text;
  }

  function markFresh(panel) {
    lastGood[panel.id] = new Date();
    panel.classList.remove("stale");
    delete panel.dataset.stale;
    var marker = panel.querySelector(":scope > .stale-marker");
    if (marker) {
      marker.parentNode.removeChild(marker);
    }
  }

  function failed(event) {
    var panel = panelOf(event.detail.elt);
    if (panel && event.detail.requestConfig && event.detail.requestConfig.verb === "get") {
      markStale(panel);
    }
  }

  document.body.addEventListener("htmx:sendError", failed);
  document.body.addEventListener("htmx:responseError", failed);
  document.body.addEventListener("htmx:timeout", failed);
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful) {
      return;
    }
    // A swapped-in panel is a new element with the same id: look it up again.
    var panel = panelOf(event.detail.elt);
    var current = panel ? document.getElementById(panel.id) : null;
    if (current) {
      markFresh(current);
    }
  });
})();
