// erbb-screen cohort matrix: sort by a column, filter by patient text and by status. No external code.
(function () {
  "use strict";
  var table = document.getElementById("matrix");
  if (!table) { return; }
  var body = table.tBodies[0];
  var order = {candidate: 0, not_evaluable: 1, not_assessable: 2, screen_negative: 3, excluded: 4, "": 5};
  function key(row, col) {
    var cell = row.cells[col];
    var status = cell.getAttribute("data-status");
    if (status !== null) { return [order[status] !== undefined ? order[status] : 9, row.cells[0].textContent]; }
    var n = cell.getAttribute("data-n");
    if (n !== null) { return [-parseFloat(n), row.cells[0].textContent]; }
    return [0, cell.textContent.trim()];
  }
  function sortBy(col, th) {
    var asc = th.getAttribute("data-dir") !== "asc";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", asc ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var ka = key(a, col), kb = key(b, col);
      var c = ka[0] < kb[0] ? -1 : (ka[0] > kb[0] ? 1 : (ka[1] < kb[1] ? -1 : (ka[1] > kb[1] ? 1 : 0)));
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
    th.classList.add("sortable");
    th.addEventListener("click", function () { sortBy(i, th); });
  });
  var text = document.getElementById("filter-patient");
  var status = document.getElementById("filter-status");
  var trial = document.getElementById("filter-trial");
  function apply() {
    var q = (text.value || "").toLowerCase();
    var s = status.value;
    var t = trial.value;
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var okText = row.cells[0].textContent.toLowerCase().indexOf(q) >= 0;
      var okStatus = true;
      if (s) {
        okStatus = Array.prototype.some.call(row.cells, function (c) {
          return c.getAttribute("data-status") === s && (!t || c.getAttribute("data-trial") === t);
        });
      }
      row.style.display = okText && okStatus ? "" : "none";
      if (okText && okStatus) { shown += 1; }
    });
    document.getElementById("filter-count").textContent = shown + " of " + body.rows.length + " patients shown";
  }
  [text, status, trial].forEach(function (el) { el.addEventListener("input", apply); });
  apply();
})();
