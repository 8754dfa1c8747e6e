/* On a phone the admin's lists become cards (css/admin.css): each cell is labelled with its column's
   header, copied here into data-label because a stylesheet cannot read another element's text. */
(function () {
  "use strict";

  function label(table) {
    var headers = table.querySelectorAll("thead th");
    var names = [];
    for (var i = 0; i < headers.length; i++) {
      names.push(headers[i].classList.contains("action-checkbox-column") ? "" : headers[i].textContent.trim());
    }
    var rows = table.querySelectorAll("tbody tr");
    for (var r = 0; r < rows.length; r++) {
      var cells = rows[r].children;
      for (var c = 0; c < cells.length && c < names.length; c++) {
        if (names[c]) {
          cells[c].setAttribute("data-label", names[c]);
        }
      }
    }
  }

  function labelAll() {
    var tables = document.querySelectorAll("#result_list");
    for (var i = 0; i < tables.length; i++) {
      label(tables[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", labelAll);
  } else {
    labelAll();
  }
})();
