// Values the system derives from a CRF (CTCAE v5.0 grades, creatinine clearance, BMI), shown beside
// the entry as it is typed. The server computes them with the functions the save uses
// (crf.labs.form_derived_fields), so what is shown is what will be stored; nothing is saved here.
(function () {
  "use strict";
  var form = document.querySelector("form[data-derive-url]");
  if (!form) { return; }
  var timer = null;
  var pending = null;
  function refresh() {
    if (pending) { pending.abort(); }
    pending = new AbortController();
    var body = new FormData(form);
    form.setAttribute("aria-busy", "true");
    fetch(form.dataset.deriveUrl, {
      method: "POST", body: body, credentials: "same-origin", signal: pending.signal,
      headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (data) {
      Object.keys(data.derived).forEach(function (key) {
        document.querySelectorAll('[data-derived-for="' + key + '"]').forEach(function (el) {
          el.textContent = data.derived[key] || "\u2014";
        });
      });
      form.dataset.derivedAt = String(Date.now());
      form.removeAttribute("aria-busy");
    }).catch(function (error) {
      if (error.name !== "AbortError") { form.removeAttribute("aria-busy"); }
    });
  }
  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
