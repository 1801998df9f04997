// Sortable tables: click a header to sort (again to reverse), click a row to act on it (zoom the
// map). Columns say how to show and compare their values; rows are plain objects.
import { esc } from "../dom.js";
import { number } from "../i18n.js";

function compare(a, b, numeric) {
  const missingA = a === null || a === undefined || a === "";
  const missingB = b === null || b === undefined || b === "";
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1; // blanks last
  if (numeric) return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

function cell(col, row) {
  const v = col.value ? col.value(row) : row[col.key];
  const text = v === null || v === undefined ? "" : col.format ? col.format(v, row) :
    (typeof v === "number" ? number(v) : v);
  const cls = [col.num ? "num" : "", col.warn && col.warn(row) ? "bad" : ""].join(" ").trim();
  return "<td" + (cls ? ' class="' + cls + '"' : "") + ">" + esc(text) + "</td>";
}

// Fill `table` with `rows` under `columns` ({key, label, num, value, format, warn}); `rowKey(row)`
// names each row (data-key) and `onRow(row)` runs on a click. Sorting keeps the rows' objects.
export function renderTable(table, columns, rows, rowKey, onRow) {
  const state = { rows: rows.slice(), col: null, dir: 1 };
  function body() {
    return "<tbody>" + state.rows.map(function (r) {
      return '<tr data-key="' + esc(rowKey(r)) + '">' + columns.map(function (c) { return cell(c, r); }).join("") + "</tr>";
    }).join("") + "</tbody>";
  }
  function draw() {
    const head = "<thead><tr>" + columns.map(function (c, i) {
      const sort = state.col === i ? (state.dir > 0 ? "ascending" : "descending") : "none";
      return '<th data-col="' + i + '" aria-sort="' + sort + '" scope="col">' + esc(c.label) + "</th>";
    }).join("") + "</tr></thead>";
    table.innerHTML = head + body();
  }
  table.onclick = function (ev) {
    const th = ev.target.closest("th");
    if (th) {
      const i = Number(th.dataset.col);
      state.dir = state.col === i ? -state.dir : (columns[i].num ? -1 : 1); // figures: largest first
      state.col = i;
      const c = columns[i];
      const get = c.value || function (r) { return r[c.key]; };
      state.rows.sort(function (a, b) { return state.dir * compare(get(a), get(b), !!c.num); });
      draw();
      return;
    }
    const tr = ev.target.closest("tbody tr");
    if (!tr) return;
    table.querySelectorAll("tr.chosen").forEach(function (t) { t.classList.remove("chosen"); });
    tr.classList.add("chosen");
    const row = state.rows.find(function (r) { return String(rowKey(r)) === tr.dataset.key; });
    if (row && onRow) onRow(row);
  };
  draw();
}
