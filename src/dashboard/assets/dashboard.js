// overdue dashboard: progressive enhancement only. Every page works without this file.
//
// A region marked data-refresh="NAME" is fetched again every data-every seconds (at
// least 5) from the page's own URL with the header X-Overdue-Fragment: NAME; the server
// answers that region alone, rendered and escaped like the page, and it replaces the
// old one. The search box, filters, sort and scroll position live outside the region,
// so a refresh never touches them. Nothing a job sent is ever inserted by this script:
// only markup the server rendered.
(function () {
  "use strict";

  function refresh(region) {
    var name = region.getAttribute("data-refresh");
    var every = Math.max(5, parseInt(region.getAttribute("data-every") || "5", 10) || 5);
    var busy = false;

    function tick() {
      if (busy || document.hidden) {
        return;
      }
      busy = true;
      fetch(window.location.pathname + window.location.search, {
        headers: { "X-Overdue-Fragment": name },
        credentials: "same-origin",
        cache: "no-store"
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("status " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          var parsed = new DOMParser().parseFromString(html, "text/html");
          var fresh = parsed.getElementById(region.id);
          if (fresh) {
            region.replaceWith(fresh);
            region = fresh;
            region.setAttribute("aria-busy", "false");
          }
        })
        .catch(function () {
          region.setAttribute("data-stale", "true");
        })
        .then(function () {
          busy = false;
        });
    }

    window.setInterval(tick, every * 1000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        tick();
      }
    });
  }

  function start() {
    document.querySelectorAll("[data-refresh]").forEach(refresh);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
