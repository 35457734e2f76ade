// Kiosk admin: small progressive enhancements. Everything works without JavaScript.
(function () {
  "use strict";
  // Filters and selectors submit themselves when changed.
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () {
      if (el.form) { el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit(); }
    });
  });
  // Ask before destructive actions.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  // Menu button on narrow screens (tablets in portrait).
  var toggle = document.querySelector("[data-nav-toggle]");
  var sidebar = document.getElementById("sidebar");
  if (toggle && sidebar) {
    toggle.addEventListener("click", function () {
      var open = sidebar.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  // Prevent double submits (a tap twice on a slow tablet).
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) { return; }
      if (form.dataset.submitted === "1") { event.preventDefault(); return; }
      form.dataset.submitted = "1";
      window.setTimeout(function () { form.dataset.submitted = ""; }, 4000);
    });
  });
})();
// Avatars page: follow the background jobs (build, test video) and reload once one has finished.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-job-id][data-job-finished='0']"));
  if (!rows.length) { return; }
  function poll() {
    Promise.all(rows.map(function (row) {
      return fetch("/avatars/jobs/" + encodeURIComponent(row.getAttribute("data-job-id")), {credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (job) {
          if (!job) { return true; }  // no longer known to the app: reload to show what is there now
          var bar = row.querySelector("[data-job-progress]");
          var step = row.querySelector("[data-job-step]");
          var badge = row.querySelector("[data-job-state]");
          if (bar) { bar.value = job.percent; bar.textContent = job.percent + " %"; }
          if (step) { step.textContent = job.step + " (" + job.percent + " %)"; }
          if (badge) { badge.textContent = job.state; }
          return job.finished;
        })
        .catch(function () { return false; });
    })).then(function (finished) {
      if (finished.indexOf(true) < 0) { window.setTimeout(poll, 1000); return; }
      var url = new URL(window.location.href);
      url.searchParams.delete("done");  // the "being built" notice is over: the page now shows the outcome
      window.location.replace(url.toString());
    });
  }
  window.setTimeout(poll, 1000);
})();
