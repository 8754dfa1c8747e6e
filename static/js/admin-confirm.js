/* Forms marked data-confirm ask before they submit. Inline onsubmit handlers would do the same, but the
   Content-Security-Policy refuses inline scripts. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
