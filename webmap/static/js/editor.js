// The grid editor (网格编辑), paint mode: pick a grid, then click blocks (地块) to move them into
// it; every edit is previewed on the server at once (households, range, staff, findings of the
// touched grids), undone or redone, and saved as a new plan version (a stale save is refused
// with what changed). The edits are those of POST /api/plan/preview and /api/plan/save.
import { featuresUrl, getJSON } from "./api.js";
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { M, number } from "./i18n.js";
import { reloadCatalog } from "./layers.js";
import { map } from "./map.js";

const ed = { on: false, target: null, edits: [], undone: [], base: null, seq: 0 };
const marks = L.layerGroup().addTo(map);
const TARGET_STYLE = { color: "#d7301f", weight: 3, fill: false };
const PAINT_STYLE = { color: "#d7301f", weight: 1, fillColor: "#fc8d59", fillOpacity: 0.45 };

function post(url, body) {
  return getJSON(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

// Ray casting over every ring of a (Multi)Polygon: is the point inside (holes excluded)?
function inRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function contains(geometry, latlng) {
  if (!geometry) return false;
  const polys = geometry.type === "Polygon" ? [geometry.coordinates] :
    geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polys.some(function (rings) {
    return inRing(rings[0], latlng.lng, latlng.lat) &&
      !rings.slice(1).some(function (hole) { return inRing(hole, latlng.lng, latlng.lat); });
  });
}

// The feature of a layer under a point: the features in a tiny box, the one that holds it.
function featureAt(layer, latlng) {
  const d = 0.00003;
  const bbox = [latlng.lng - d, latlng.lat - d, latlng.lng + d, latlng.lat + d]
    .map(function (v) { return v.toFixed(7); }).join(",");
  return getJSON(featuresUrl(layer, { bbox: bbox, limit: 50 })).then(function (fc) {
    return fc.features.filter(function (f) { return contains(f.geometry, latlng); })[0] || null;
  });
}

function render(preview) {
  const box = el("editor-status");
  const head = ed.target ? M.edit_painting.replace("{grid}", ed.target) : M.edit_pick_grid;
  let html = '<p class="muted" id="editor-hint">' + esc(head) + "</p>";
  if (preview) {
    const codes = Object.keys(preview.grids).sort();
    html += '<table class="editor-grids"><tbody>' + codes.map(function (code) {
      const g = preview.grids[code];
      const badge = g.in_range ? '<span class="ok">✓</span>' : '<span class="bad">✗</span>';
      return '<tr data-grid="' + esc(code) + '"><td>' + esc(code) + "</td><td class=\"hh\">" +
        number(g.households) + " " + esc(M.households_short) + "</td><td>" + badge + "</td><td>" +
        number(g.buildings) + " " + esc(M.buildings_short) + "</td><td>" + esc(M.staff) + " " +
        number(g.staff) + "</td></tr>";
    }).join("") + "</tbody></table>";
    const counts = Object.keys(preview.counts).filter(function (k) { return preview.counts[k]; });
    html += '<p id="editor-findings">' + (counts.length ? esc(M.edit_findings) + ": " + counts.map(function (k) {
      return esc(M["finding_" + k] || k) + " " + number(preview.counts[k]);
    }).join("，") : esc(M.edit_no_findings)) + "</p>";
  }
  html += '<p class="muted">' + esc(M.edit_count.replace("{n}", ed.edits.length)) + "</p>";
  box.innerHTML = html;
  el("editor-undo").disabled = !ed.edits.length;
  el("editor-redo").disabled = !ed.undone.length;
  el("editor-save").disabled = !ed.edits.length;
}

// Ask the server for the figures of the plan with this session's edits; the latest answer wins.
function preview() {
  const seq = ++ed.seq;
  if (!ed.edits.length) { render(null); return Promise.resolve(); }
  const started = performance.now();
  document.body.dataset.previewing = "1";
  return post(cfg.urls.plan + "/preview", { base_version: ed.base, edits: ed.edits }).then(function (p) {
    if (seq !== ed.seq) return;
    document.body.dataset.previewMs = String(Math.round(performance.now() - started));
    document.body.dataset.previewing = "0";
    render(p);
  }).catch(function (err) {
    if (seq !== ed.seq) return;
    document.body.dataset.previewing = "0";
    showStatus(M.error + ": " + err.message);
  });
}

function redrawMarks() {
  marks.clearLayers();
  if (ed.targetGeometry) L.geoJSON(ed.targetGeometry, { style: TARGET_STYLE, interactive: false }).addTo(marks);
  ed.painted = ed.painted || {};
  ed.edits.forEach(function (e) {
    (e.units || []).forEach(function (u) {
      const g = ed.painted[u];
      if (g) L.geoJSON(g, { style: PAINT_STYLE, interactive: false }).addTo(marks);
    });
  });
}

function onClick(e) {
  if (!ed.on) return;
  map.closePopup();
  if (!ed.target) {
    featureAt("grids", e.latlng).then(function (grid) {
      if (!grid) return;
      ed.target = String(grid.properties.grid_code);
      ed.targetGeometry = grid.geometry;
      redrawMarks();
      render(null);
      if (ed.edits.length) preview();
    });
    return;
  }
  featureAt("blocks", e.latlng).then(function (block) {
    if (!block) { showStatus(M.edit_no_block); return; }
    const id = String(block.properties.block_id);
    ed.painted = ed.painted || {};
    ed.painted[id] = block.geometry;
    ed.edits.push({ op: "assign", units: [id], to: ed.target });
    ed.undone = [];
    redrawMarks();
    preview();
  });
}

function start() {
  getJSON(cfg.urls.plan, { cache: "no-cache" }).then(function (plan) {
    ed.on = true;
    ed.base = plan.version;
    ed.target = null;
    ed.targetGeometry = null;
    ed.edits = [];
    ed.undone = [];
    document.body.classList.add("editing");
    el("editor-toggle").textContent = M.edit_stop;
    el("editor-tools").hidden = false;
    render(null);
  }).catch(function (err) { showStatus(M.error + ": " + err.message); });
}

function stop() {
  ed.on = false;
  ed.edits = [];
  ed.undone = [];
  ed.target = null;
  ed.targetGeometry = null;
  marks.clearLayers();
  document.body.classList.remove("editing");
  el("editor-toggle").textContent = M.edit_start;
  el("editor-tools").hidden = true;
}

function save() {
  el("editor-save").disabled = true;
  post(cfg.urls.plan + "/save", { base_version: ed.base, edits: ed.edits, message: M.edit_message })
    .then(function (r) {
      showStatus(M.edit_saved.replace("{version}", r.version));
      stop();
      return reloadCatalog();
    }).catch(function (err) {
      el("editor-save").disabled = false;
      showStatus(M.edit_refused + "：" + err.message);
    });
}

export function initEditor() {
  const box = el("editor-box");
  if (!box) return;
  if (!cfg.editable) { box.hidden = true; return; }
  el("editor-toggle").onclick = function () { if (ed.on) stop(); else start(); };
  el("editor-regrid").onclick = function () { ed.target = null; ed.targetGeometry = null; redrawMarks(); render(null); };
  el("editor-undo").onclick = function () { if (ed.edits.length) { ed.undone.push(ed.edits.pop()); redrawMarks(); preview(); } };
  el("editor-redo").onclick = function () { if (ed.undone.length) { ed.edits.push(ed.undone.pop()); redrawMarks(); preview(); } };
  el("editor-save").onclick = save;
  el("editor-discard").onclick = stop;
  // While editing, a click picks a grid or moves a block, and opens no pop-up: caught on its
  // way down to the layers (a feature's pop-up would stop it before the map saw it).
  map.getContainer().addEventListener("click", function (ev) {
    if (!ed.on || ev.target.closest(".leaflet-control")) return;
    ev.stopPropagation();
    onClick({ latlng: map.mouseEventToLatLng(ev) });
  }, true);
}
