// Keyward's small helpers. Everything works without this file; it only adds copying and
// closing dialogs in place. No inline script anywhere (CSP: script-src 'self').
(function () {
  "use strict";

  // Controls that need this file (the page's select-all checkbox) show only once it runs.
  document.documentElement.classList.add("js");

  // The page's checkbox ticks or clears every row's; a row's keeps it in step.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "checkbox") return;
    var rows = document.querySelectorAll('input[name="key"][form="bulk-form"]');
    if (box.hasAttribute("data-select-page")) {
      rows.forEach(function (row) { row.checked = box.checked; });
      return;
    }
    if (box.name !== "key") return;
    var all = document.querySelector("[data-select-page]");
    if (!all) return;
    var ticked = Array.prototype.filter.call(rows, function (row) { return row.checked; }).length;
    all.checked = ticked > 0 && ticked === rows.length;
    all.indeterminate = ticked > 0 && ticked < rows.length;
  });

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function confirmCopied(button) {
    var label = button.textContent;
    button.setAttribute("data-copied", "true");
    button.textContent = "Copied";
    setTimeout(function () {
      button.textContent = label;
      button.removeAttribute("data-copied");
    }, 2000);
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;

    var copyButton = target.closest("[data-copy-target], [data-copy-text]");
    if (copyButton) {
      var text = copyButton.getAttribute("data-copy-text");
      if (text === null) {
        var source = document.getElementById(copyButton.getAttribute("data-copy-target"));
        text = source ? source.textContent.trim() : "";
      }
      copy(text).then(function () { confirmCopied(copyButton); }, function () {
        copyButton.textContent = "Select and copy";
      });
      return;
    }

    var dismiss = target.closest("[data-dismiss]");
    if (dismiss) {
      var dialog = document.getElementById(dismiss.getAttribute("data-dismiss"));
      if (dialog) {
        event.preventDefault();
        dialog.remove();
      }
      return;
    }

    if (target.closest("[data-dismiss-panel]")) {
      var panel = document.getElementById("panel");
      if (panel) {
        event.preventDefault();
        panel.innerHTML = "";
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var panel = document.getElementById("panel");
    if (panel && panel.firstElementChild) panel.innerHTML = "";
  });
})();
