// erbb-screen patient page: a link to #trial-X opens that trial's criteria; buttons open or close them all.
(function () {
  "use strict";
  function openTarget() {
    var id = decodeURIComponent((window.location.hash || "").slice(1));
    var el = id ? document.getElementById(id) : null;
    if (el && el.tagName === "DETAILS") { el.open = true; el.scrollIntoView(); }
  }
  function setAll(open) {
    Array.prototype.forEach.call(document.querySelectorAll("details.trial"), function (d) { d.open = open; });
  }
  var expand = document.getElementById("expand-all");
  var collapse = document.getElementById("collapse-all");
  if (expand) { expand.addEventListener("click", function () { setAll(true); }); }
  if (collapse) { collapse.addEventListener("click", function () { setAll(false); }); }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
