/* A dashboard that silently stops updating looks like a calm market. Say so when the server does not
   answer or refuses a request; clear the notice once a request succeeds again. A refused form post
   (403: the page's CSRF token is stale after a login elsewhere) is only fixed by a reload, so it stays. */
(function () {
  "use strict";
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
