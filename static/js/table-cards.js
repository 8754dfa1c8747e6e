/* On a phone every dashboard table in a .table-scroll (or with class "cards") is a stack of labelled
   cards (css/phone.css). The label of each cell is its column's header, copied here into data-label
   when the page loads and whenever htmx swaps a panel in: the server sends each header once, and a new
   table needs nothing but a <thead>. A cell spanning several columns keeps no label. */
(function () {
  "use strict";

  function labelTable(table) {
    var headers = table.querySelectorAll("thead th");
    if (!headers.length) {
      return;
    }
    var names = [];
    for (var h = 0; h < headers.length; h++) {
      names.push(headers[h].textContent.trim());
    }
    var rows = table.querySelectorAll("tbody tr");
    for (var r = 0; r < rows.length; r++) {
      var column = 0;
      var cells = rows[r].children;
      for (var c = 0; c < cells.length; c++) {
        var span = cells[c].colSpan || 1;
        if (span === 1 && names[column] && !cells[c].hasAttribute("data-label")) {
          cells[c].setAttribute("data-label", names[column]);
        }
        column += span;
      }
    }
  }

  function labelWithin(root) {
    var tables = root.querySelectorAll(".table-scroll table, table.cards");
    for (var i = 0; i < tables.length; i++) {
      labelTable(tables[i]);
    }
  }

  labelWithin(document);
  document.body.addEventListener("htmx:load", function (event) {
    labelWithin(event.detail.elt);
  });
})();
