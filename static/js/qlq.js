// The quality-of-life form laid out as the printed questionnaire (crf.qlq_paper): each item is a
// native radio group, so Tab moves between items and the arrow keys between answers. For
// transcribing a paper form quickly, a digit key chooses that answer of the focused item and moves
// to the next item; Delete or Backspace chooses "blank". Nothing is saved here.
(function () {
  "use strict";
  function rowOf(el) {
    return el.closest(".qlq-row");
  }
  function focusRow(row) {
    if (!row) return;
    var target = row.querySelector("input[type=radio]:checked") || row.querySelector("input[type=radio]");
    if (target) target.focus();
  }
  function choose(input) {
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "radio" || !rowOf(input)) return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var row = rowOf(input);
    var option = null;
    if (/^[1-7]$/.test(event.key)) {
      option = row.querySelector('input[type=radio][value="' + event.key + '"]');
    } else if (event.key === "Delete" || event.key === "Backspace") {
      option = row.querySelector('input[type=radio][value=""]');
    }
    if (!option) return;
    event.preventDefault();
    choose(option);
    var rows = Array.prototype.slice.call(document.querySelectorAll(".qlq-row"));
    focusRow(rows[rows.indexOf(row) + 1]);
  });
})();
