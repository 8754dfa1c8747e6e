/* The manual order form refuses a buy outside the limits before sending it, with the sentence the server
   would answer (trading/manual_limits.py runs the same rules; the sentences come translated in the form's
   data-msg-* attributes). The server checks again when the order is queued: this only saves a round trip
   and says why at once, in the form. */
(function () {
  "use strict";

  var AMOUNT = /^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?$/;

  // "20000" → "20,000"; "5000.50" → "5,000.5": as krw_text() writes numbers on the server.
  function groupDigits(plain) {
    var parts = plain.split(".");
    var whole = parts[0].replace(/^0+(?=\d)/, "");
    var fraction = (parts[1] || "").replace(/0+$/, "");
    whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return fraction ? whole + "." + fraction : whole;
  }

  // Compares two plain decimal strings exactly (no floating point): -1, 0 or 1.
  function compareAmounts(a, b) {
    var pa = a.split("."), pb = b.split(".");
    var wa = pa[0].replace(/^0+/, ""), wb = pb[0].replace(/^0+/, "");
    if (wa.length !== wb.length) {
      return wa.length < wb.length ? -1 : 1;
    }
    if (wa !== wb) {
      return wa < wb ? -1 : 1;
    }
    var fa = pa[1] || "", fb = pb[1] || "";
    var width = Math.max(fa.length, fb.length);
    while (fa.length < width) { fa += "0"; }
    while (fb.length < width) { fb += "0"; }
    return fa === fb ? 0 : (fa < fb ? -1 : 1);
  }

  // Python's %-formatting, as the server fills the same sentence: %(name)s, and %% for a percent sign.
  function sentence(form, name, values) {
    return form.dataset[name].replace(/%(?:\((\w+)\)s|%)/g, function (whole, key) {
      if (!key) {
        return "%";
      }
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : whole;
    });
  }

  // The first limit the amount breaks, as the sentence to show; "" when it fits (or is not an amount:
  // the server names that mistake itself).
  function refusal(form, typed) {
    var text = typed.trim();
    if (!AMOUNT.test(text)) {
      return "";
    }
    var amount = text.replace(/,/g, "");
    // More than 8 decimals or 15 digits: the server names that mistake first, as it checks it first.
    if ((amount.split(".")[1] || "").length > 8 || amount.split(".")[0].length > 15) {
      return "";
    }
    var value = groupDigits(amount);
    var data = form.dataset;
    if (compareAmounts(amount, data.minKrw) < 0) {
      return sentence(form, "msgBelowMinimum", { value: value });
    }
    if (compareAmounts(amount, data.maxOrderKrw) > 0) {
      return sentence(form, "msgOverMaxOrder", { value: value, limit: groupDigits(data.maxOrderKrw) });
    }
    if (data.availableKrw && compareAmounts(amount, data.availableKrw) > 0) {
      return sentence(form, "msgOverBalance", { value: value, limit: groupDigits(data.availableKrw) });
    }
    if (data.positionRoomKrw && compareAmounts(amount, data.positionRoomKrw) > 0) {
      return sentence(form, "msgOverPositionCap", {
        value: value, limit: groupDigits(data.positionRoomKrw), ratio: data.ratioPercent
      });
    }
    return "";
  }

  function show(form, text) {
    var panel = form.closest("section") || form.parentNode;
    var old = panel.querySelectorAll(".manual-problem");
    for (var i = 0; i < old.length; i++) {
      old[i].parentNode.removeChild(old[i]);
    }
    if (!text) {
      return;
    }
    var note = document.createElement("p");
    note.className = "problem manual-problem";
    note.setAttribute("role", "alert");
    note.dataset.refusedBy = "form";
    note.textContent = form.dataset.fieldLabel + ": " + text;
    form.parentNode.insertBefore(note, form.nextSibling);
  }

  // Capture phase: runs before htmx's own submit handler on the form, so a refused buy never reaches the
  // confirmation dialog or the network.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-manual-limits")) {
      return;
    }
    var kind = form.elements.namedItem("kind");
    var krw = form.elements.namedItem("krw");
    var text = kind && kind.value === "buy" && krw ? refusal(form, krw.value) : "";
    show(form, text);
    if (text) {
      event.preventDefault();
      event.stopPropagation();
      if (krw) {
        krw.setAttribute("aria-invalid", "true");
        krw.focus();
      }
    } else if (krw) {
      krw.removeAttribute("aria-invalid");
    }
  }, true);
})();
