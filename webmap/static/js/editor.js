// The grid editor (网格编辑): one session of edits on a plan version. Paint mode picks a grid,
// then clicks move blocks (地块) into it (or a brush or lasso many at once: edit_paint.js); the tools (edit_tools.js) add create, merge, split,
// delete and lock, the pop-up forms (edit_forms.js) households and names. Every edit goes onto
// one undo stack and is previewed on the server at once (households, range, staff, findings
// of the touched grids); a refused edit is taken off with the server's reason. The session is
// saved as a new plan version (a stale save is refused with what changed). The edits are
// those of POST /api/plan/preview and /api/plan/save.
import { featureUrl, getJSON } from "./api.js";
import { bodyWithCommunity, scope } from "./community.js";
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { featureAt } from "./edit_hit.js";
import { M, number } from "./i18n.js";
import { reloadCatalog } from "./layers.js";
import { map } from "./map.js";
import { loadVersions } from "./versions.js";

// mode: "paint" (default), "inspect" (clicks open pop-ups) or a tool's (brush, lasso, create,
// merge, split, reshape).
export const ed = { on: false, mode: "paint", target: null, targetGeometry: null, targetLocked: false,
  edits: [], undone: [], base: null, seq: 0, selection: [], line: [], error: "", lastPreview: null };
const marks = L.layerGroup().addTo(map);
const TARGET_STYLE = { color: "#d7301f", weight: 3, fill: false };
export const PAINT_STYLE = { color: "#d7301f", weight: 1, fillColor: "#fc8d59", fillOpacity: 0.45 };
const SELECT_STYLE = { color: "#2166ac", weight: 2, fillColor: "#67a9cf", fillOpacity: 0.45 };
export const LINE = { color: "#542788", weight: 3, dashArray: "6 4" };
// edit → the shapes that show it on the map ([{geometry, style}]); the edits stay plain JSON.
const shapes = new WeakMap();
// A tool's click handler and hint, by mode; functions told of every change (button states).
const modes = {};
const listeners = [];

export function post(url, body) {
  return getJSON(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

export function registerMode(name, handler, hint) { modes[name] = { click: handler, hint: hint }; }
export function onChange(fn) { listeners.push(fn); }

function hint() {
  if (modes[ed.mode]) return modes[ed.mode].hint();
  if (ed.mode === "inspect") return M.edit_inspect_hint;
  return ed.target ? M.edit_painting.replace("{grid}", ed.target) : M.edit_pick_grid;
}

function listed(codes, label) {
  return codes && codes.length ? "<p>" + esc(label) + "：" + codes.map(esc).join("，") + "</p>" : "";
}

export function render(preview) {
  const box = el("editor-status");
  let html = '<p class="muted" id="editor-hint">' + esc(hint()) + "</p>";
  if (ed.error) html += '<p class="bad" id="editor-error">' + esc(ed.error) + "</p>";
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
    html += listed(preview.created, M.edit_created) + listed(preview.removed, M.edit_removed);
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
  listeners.forEach(function (fn) { fn(); });
}

// Ask the server for the figures of the plan with this session's edits (or take those
// already known: a one-click fix previewed beforehand); the latest answer wins. An edit
// just made (added) that the server refuses is taken off, with its reason.
function preview(added, known) {
  const seq = ++ed.seq;
  if (!ed.edits.length) { ed.lastPreview = null; render(null); return Promise.resolve(); }
  const started = performance.now();
  document.body.dataset.previewing = "1";
  const body = bodyWithCommunity({ base_version: ed.base, edits: ed.edits });
  const asked = known ? Promise.resolve(known) : post(cfg.urls.plan + "/preview", body);
  return asked.then(function (p) {
    if (seq !== ed.seq) return;
    document.body.dataset.previewMs = String(Math.round(performance.now() - started));
    document.body.dataset.previewing = "0";
    ed.lastPreview = p;
    render(p);
  }).catch(function (err) {
    if (seq !== ed.seq) return;
    document.body.dataset.previewing = "0";
    if (added) {
      ed.edits.pop();
      ed.error = M.edit_not_done + "：" + err.message;
      redrawMarks();
      return preview(false);
    }
    showStatus(M.error + ": " + err.message);
  });
}

// Put an edit on the stack (shown on the map by drawn: [{geometry, style}]) and preview it
// (known: the preview of the stack with it, if already asked for).
export function addEdit(edit, drawn, known) {
  shapes.set(edit, drawn || []);
  ed.edits.push(edit);
  ed.undone = [];
  ed.error = "";
  redrawMarks();
  return preview(true, known);
}

export function redrawMarks() {
  marks.clearLayers();
  function draw(geometry, style) { L.geoJSON(geometry, { style: style, interactive: false }).addTo(marks); }
  if (ed.targetGeometry) draw(ed.targetGeometry, TARGET_STYLE);
  ed.edits.forEach(function (e) {
    (shapes.get(e) || []).forEach(function (s) { draw(s.geometry, s.style); });
  });
  ed.selection.forEach(function (s) { draw(s.geometry, SELECT_STYLE); });
  if (ed.line.length) {
    L.polyline(ed.line.map(function (p) { return [p[1], p[0]]; }), Object.assign({ interactive: false }, LINE)).addTo(marks);
  }
}

export function setMode(mode) {
  ed.mode = mode;
  ed.selection = [];
  ed.line = [];
  redrawMarks();
  render(ed.lastPreview || null);
}

// Make grid (a feature of the grids layer, or null) the one edits go into or act on.
export function setTarget(grid) {
  ed.target = grid ? String(grid.properties.grid_code) : null;
  ed.targetGeometry = grid ? grid.geometry : null;
  ed.targetLocked = !!(grid && grid.properties.locked);
  redrawMarks();
}

function paintClick(latlng) {
  if (!ed.target) {
    featureAt("grids", latlng).then(function (grid) {
      if (!grid) return;
      setTarget(grid);
      render(ed.lastPreview);
    });
    return;
  }
  featureAt("blocks", latlng).then(function (block) {
    if (!block) { showStatus(M.edit_no_block); return; }
    addEdit({ op: "assign", units: [String(block.properties.block_id)], to: ed.target },
      [{ geometry: block.geometry, style: PAINT_STYLE }]);
  });
}

function reset() {
  ed.mode = "paint";
  ed.edits = [];
  ed.undone = [];
  ed.selection = [];
  ed.line = [];
  ed.error = "";
  ed.lastPreview = null;
  setTarget(null);
}

function start() {
  return getJSON(cfg.urls.plan, { cache: "no-cache" }).then(function (plan) {
    reset();
    ed.on = true;
    ed.base = plan.version;
    document.body.classList.add("editing");
    el("editor-toggle").textContent = M.edit_stop;
    el("editor-tools").hidden = false;
    render(null);
  }).catch(function (err) { showStatus(M.error + ": " + err.message); });
}

// A session to put an edit in: the one open, or a new one on the current plan version.
export function ensureEditing() {
  return ed.on ? Promise.resolve() : start();
}

function stop() {
  ed.on = false;
  reset();
  marks.clearLayers();
  document.body.classList.remove("editing");
  el("editor-toggle").textContent = M.edit_start;
  el("editor-tools").hidden = true;
  listeners.forEach(function (fn) { fn(); });
}

// After a save the session goes on with the version saved: no edits, that version's check
// in the rules panel (the server has it from what it wrote), the grid painted into kept.
function goOn(saved) {
  const kept = ed.target && saved.removed.indexOf(ed.target) < 0 ?
    { target: ed.target, targetGeometry: ed.targetGeometry, targetLocked: ed.targetLocked } : {};
  ed.edits.forEach(function (e) {
    if (e.grid === kept.target && (e.op === "lock" || e.op === "unlock")) kept.targetLocked = e.op === "lock";
  });
  reset();
  // The saved plan's check came with the answer: the rules panel lists it without asking.
  Object.assign(ed, kept, { base: saved.version, savedCheck: saved.check || null });
  redrawMarks();
  render(null);
  if (!kept.target) return;
  // Its outline as saved (a merge or a paint reshaped it).
  getJSON(featureUrl("grids", kept.target)).then(function (grid) {
    if (ed.on && ed.target === kept.target) setTarget(grid);
  }).catch(function () {});
}

function save() {
  el("editor-save").disabled = true;
  post(cfg.urls.plan + "/save", bodyWithCommunity({ base_version: ed.base, edits: ed.edits, message: M.edit_message }))
    .then(function (r) {
      showStatus(M.edit_saved.replace("{version}", r.version));
      goOn(r);
      loadVersions();
      return reloadCatalog();
    }).catch(function (err) {
      el("editor-save").disabled = false;
      showStatus(M.edit_refused + "：" + err.message);
    });
}

function step(from, to) {
  if (!from.length) return;
  to.push(from.pop());
  ed.error = "";
  redrawMarks();
  preview(false);
}

export function initEditor() {
  const box = el("editor-box");
  if (!box) return;
  if (!cfg.editable) { box.hidden = true; return; }
  // A session's edits stay in the community they were made in (the selector waits).
  scope.busy = function () { return ed.on && ed.edits.length > 0; };
  el("editor-toggle").onclick = function () { if (ed.on) stop(); else start(); };
  el("editor-regrid").onclick = function () { setTarget(null); setMode("paint"); };
  el("editor-inspect").onclick = function () { setMode(ed.mode === "inspect" ? "paint" : "inspect"); };
  el("editor-undo").onclick = function () { step(ed.edits, ed.undone); };
  el("editor-redo").onclick = function () { step(ed.undone, ed.edits); };
  el("editor-save").onclick = save;
  el("editor-discard").onclick = stop;
  // While editing, a click picks a grid or moves a block, and opens no pop-up: caught on its
  // way down to the layers (a feature's pop-up would stop it before the map saw it). In
  // inspect mode clicks go on to the layers, whose pop-ups hold the households form.
  map.getContainer().addEventListener("click", function (ev) {
    if (!ed.on || ed.mode === "inspect" || ev.target.closest(".leaflet-control, .leaflet-popup")) return;
    if (modes[ed.mode] && !modes[ed.mode].click) return; // a tool of its own (vertex editing)
    ev.stopPropagation();
    map.closePopup();
    const latlng = map.mouseEventToLatLng(ev);
    if (modes[ed.mode]) modes[ed.mode].click(latlng);
    else paintClick(latlng);
  }, true);
}
