// NELMAS EDC page behaviour. Kept in a static file: the Content Security Policy forbids inline script.
(function () {
  "use strict";
  // Warn before leaving a form with unsaved changes (nurses are often interrupted mid-form).
  document.querySelectorAll("form[data-warn-unsaved]").forEach(function (form) {
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  });
  // Move focus to the error summary so screen readers announce it after a failed save.
  var summary = document.getElementById("form-errors");
  if (summary) { summary.focus(); }
})();

// Progress bars carry their width in data-progress (the CSP forbids inline style attributes).
document.querySelectorAll(".progress-bar[data-progress]").forEach(function (bar) {
  if (!bar.closest("#generated-status")) { bar.style.width = bar.dataset.progress + "%"; }
});

// Irreversible or trial-wide actions (activating a site, closing it) ask first. A static handler:
// the CSP forbids inline onclick. Without JavaScript the action still needs the reason the server asks.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) { event.preventDefault(); }
});
