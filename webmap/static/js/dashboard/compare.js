// Two plan versions compared on the dashboard: grids added, removed, reshaped, households moved,
// coverage and staff before and after; each changed grid zooms the map.
import { getJSON } from "../api.js";
import { cfg } from "../config.js";
import { el, esc, showStatus } from "../dom.js";
import { M, number } from "../i18n.js";

// A version's reason, cut to fit a drop-down.
function short(text) { return text.length > 24 ? text.slice(0, 23) + "…" : text; }

function options(select, versions, chosen) {
  select.innerHTML = versions.map(function (v) {
    return '<option value="' + v.plan_version + '"' + (v.plan_version === chosen ? " selected" : "") + ">" +
      esc(M.dash_version.replace("{v}", v.plan_version)) + (v.reason ? " · " + esc(short(v.reason)) : "") + "</option>";
  }).join("");
}

function signed(n) { return (n > 0 ? "+" : "") + number(n); }

function render(d, zoom) {
  const rows = d.difference.map(function (r) {
    return '<tr data-measure="' + r.measure + '"><td>' + esc(M["m_" + r.measure] || r.measure) + '</td><td class="a">' +
      number(r.a) + '</td><td class="b">' + number(r.b) + '</td><td class="diff" data-value="' + r.difference + '">' +
      signed(r.difference) + "</td></tr>";
  }).join("");
  const table = '<table class="compare-table"><thead><tr><th>' + esc(M.dash_measure) + "</th><th>" +
    esc(M.dash_version.replace("{v}", d.old)) + "</th><th>" + esc(M.dash_version.replace("{v}", d.new)) + "</th><th>" +
    esc(M.dash_difference) + "</th></tr></thead><tbody>" + rows + "</tbody></table>";
  const moved = '<p id="compare-moved" data-moved="' + d.households_moved + '">' +
    esc(M.dash_moved.replace("{n}", number(d.households_moved))) + "</p>";
  const changes = d.changes.length ? "<h3>" + esc(M.dash_changed) + " (" + d.changes.length + ')</h3><ul class="changes">' +
    d.changes.map(function (c, i) {
      const hh = (c.households_before === null ? "–" : number(c.households_before)) + " → " +
        (c.households_after === null ? "–" : number(c.households_after));
      return '<li data-i="' + i + '" data-grid="' + esc(c.grid_code) + '"><b>' + esc(c.grid_code) + "</b> " +
        esc(M["dash_status_" + c.status]) + " · " + esc(hh) + " " + esc(M.households_short) + "</li>";
    }).join("") + "</ul>" : "<p>" + esc(M.dash_compare_none) + "</p>";
  el("compare").innerHTML = table + moved + changes;
  const list = el("compare").querySelector(".changes");
  if (list) list.addEventListener("click", function (ev) {
    const li = ev.target.closest("li");
    if (li) zoom(d.changes[Number(li.dataset.i)]);
  });
}

// `stations()` names the station set counted, `community()` the community compared ("" for all
// of them); `zoom(change)` shows a changed grid. Returns `run`, to compare again.
export function initCompare(stations, zoom, community) {
  const a = el("compare-a"), b = el("compare-b");
  function run() {
    let u = cfg.urls.compare + "?a=" + encodeURIComponent(a.value) + "&b=" + encodeURIComponent(b.value);
    if (stations()) u += "&stations=" + encodeURIComponent(stations());
    if (community && community()) u += "&community=" + encodeURIComponent(community());
    el("compare").innerHTML = '<p class="muted">' + esc(M.dash_computing) + "</p>";
    document.body.dataset.compared = "0";
    return getJSON(u).then(function (d) {
      render(d, zoom);
      document.body.dataset.compared = "1";
    }).catch(function (err) { el("compare").innerHTML = ""; showStatus(M.error + ": " + err.message); });
  }
  el("compare-run").addEventListener("click", run);
  return getJSON(cfg.urls.versions, { cache: "no-cache" }).then(function (answer) {
    const versions = answer.versions.slice().reverse();
    const current = answer.current;
    const earlier = versions.filter(function (v) { return v.plan_version < current; });
    options(a, versions, earlier.length ? earlier[0].plan_version : current);
    options(b, versions, current);
    return versions.length > 1 ? run() : null;
  }).then(function () { return run; });
}
