// Poll a generated file's status while it renders, then reload to show the download link.
(function () {
  "use strict";
  var box = document.getElementById("generated-status");
  if (!box || box.dataset.status === "done" || box.dataset.status === "failed") { return; }
  var url = box.dataset.statusUrl;
  var initial = box.querySelector(".progress-bar");
  if (initial) { initial.style.width = initial.dataset.progress + "%"; }
  var timer = window.setInterval(function () {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var bar = box.querySelector(".progress-bar");
        if (bar) { bar.style.width = data.progress + "%"; bar.textContent = data.progress + " %"; }
        if (data.status === "done" || data.status === "failed") { window.clearInterval(timer); window.location.reload(); }
      });
  }, 1500);
})();
