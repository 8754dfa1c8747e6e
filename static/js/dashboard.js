/* A dashboard that silently stops updating looks like a calm market. Say so when the server does not
   answer or refuses a request; clear the notice once a request succeeds again. A refused form post
   (403: the page's CSRF token is stale after a login elsewhere) is only fixed by a reload, so it stays. */
(function () {
  "use strict";

  /* The page's Content-Security-Policy allows no inline styles or eval, so the meters take their width
     from data-percent here (setting a style property from a script is allowed), and the visibility rules
     of the polling live here instead of in hx-trigger filters (which htmx evaluates as code). */
  function sizeMeters(root) {
    var bars = root.querySelectorAll("[data-percent]");
    for (var i = 0; i < bars.length; i++) {
      bars[i].style.width = bars[i].dataset.percent + "%";
    }
  }
  sizeMeters(document);
  document.body.addEventListener("htmx:load", function (event) {
    sizeMeters(event.detail.elt);
  });

  // A background tab costs the server nothing: its polls are dropped, and it refreshes on coming back.
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (document.visibilityState !== "visible" && event.detail.requestConfig.verb === "get") {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      document.body.dispatchEvent(new CustomEvent("tabVisible"));
    }
  });

  var banner = document.getElementById("connection-problem");
  if (!banner) {
    return;
  }
  var sticky = false;

  function show(kind) {
    banner.textContent = banner.dataset[kind];
    banner.dataset.kind = kind;
    banner.hidden = false;
  }

  document.body.addEventListener("htmx:sendError", function () {
    if (!sticky) {
      show("offline");
    }
  });
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var status = xhr.status;
    if (status === 403 && xhr.getResponseHeader("X-Missing-Permission")) {
      // A permission this account lacks: the server's sentence says which, and whom to ask.
      sticky = true;
      banner.textContent = new DOMParser().parseFromString(xhr.responseText, "text/html").body.textContent.trim();
      banner.dataset.kind = "permission";
      banner.hidden = false;
    } else if (status === 403 && event.detail.requestConfig && event.detail.requestConfig.verb === "post") {
      sticky = true;
      show("denied");
    } else if (!sticky) {
      show("failed");
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful && !sticky) {
      banner.hidden = true;
    }
  });
})();
