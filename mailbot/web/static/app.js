// Keyboard shortcuts on the triage queue. Plain JS, loaded from our origin (CSP: no inline script).
(function () {
  "use strict";
  function items() { return Array.prototype.slice.call(document.querySelectorAll("[data-triage]")); }
  function current() { return document.querySelector("[data-triage].current"); }
  function select(item) {
    items().forEach(function (el) { el.classList.remove("current"); });
    if (item) { item.classList.add("current"); item.focus({ preventScroll: true });
      item.scrollIntoView({ block: "nearest", behavior: "smooth" }); }
  }
  function move(step) {
    var all = items(); if (!all.length) return;
    var index = all.indexOf(current());
    select(all[Math.max(0, Math.min(all.length - 1, index + step))] || all[0]);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var all = items(); if (all.length) select(all[0]);
    all.forEach(function (el) { el.addEventListener("click", function () { select(el); }); });
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target && event.target.tagName) || "";
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(tag)) return;
    var item = current() || items()[0];
    if (event.key === "j") { move(1); event.preventDefault(); return; }
    if (event.key === "k") { move(-1); event.preventDefault(); return; }
    if (!item) return;
    if (event.key === "o") { window.location.href = item.getAttribute("data-href"); return; }
    var button = item.querySelector('button[data-key="' + event.key + '"]');
    if (button) { event.preventDefault(); button.click(); }
  });
})();
