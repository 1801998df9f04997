// The editor's tools beside paint mode: a new grid from selected blocks, merge the grid with
// another, split it along a line drawn by clicks (the server snaps it to roads and walls and
// refuses a line through a building, naming it), move its vertices by hand (leaflet-geoman,
// snapping to the roads, walls, buildings and grids on the map: for plans drawn by hand that
// do not follow blocks), delete it, lock or unlock it. Each makes one edit on the editor's
// stack, previewed and undone like a paint edit.
import { cfg } from "./config.js";
import { el, showStatus } from "./dom.js";
import { LINE, PAINT_STYLE, addEdit, ed, onChange, redrawMarks, registerMode, render, setMode,
  setTarget } from "./editor.js";
import { featureAt } from "./edit_hit.js";
import { M } from "./i18n.js";
import { map } from "./map.js";

const CREATED_STYLE = { color: "#2166ac", weight: 2, fillColor: "#67a9cf", fillOpacity: 0.35 };
const SHAPE_STYLE = { color: "#d7301f", weight: 3, fillColor: "#fc8d59", fillOpacity: 0.2 };
const GONE_STYLE = { color: "#636363", weight: 2, dashArray: "4 4", fillColor: "#bdbdbd", fillOpacity: 0.5 };

// Whether the target grid is locked once this session's edits are applied.
function targetLocked() {
  let locked = ed.targetLocked;
  ed.edits.forEach(function (e) {
    if (e.grid === ed.target && (e.op === "lock" || e.op === "unlock")) locked = e.op === "lock";
  });
  return locked;
}

function selectBlock(latlng) {
  featureAt("blocks", latlng).then(function (block) {
    if (!block) { showStatus(M.edit_no_block); return; }
    const id = String(block.properties.block_id);
    const at = ed.selection.findIndex(function (s) { return s.id === id; });
    if (at >= 0) ed.selection.splice(at, 1);
    else ed.selection.push({ id: id, geometry: block.geometry });
    redrawMarks();
    render(ed.lastPreview);
  });
}

function mergeWith(latlng) {
  featureAt("grids", latlng).then(function (grid) {
    if (!grid) return;
    const code = String(grid.properties.grid_code);
    if (code === ed.target) return;
    setMode("paint");
    addEdit({ op: "merge", grids: [ed.target, code] }, [{ geometry: grid.geometry, style: PAINT_STYLE }]);
  });
}

function addPoint(latlng) {
  ed.line.push([Number(latlng.lng.toFixed(7)), Number(latlng.lat.toFixed(7))]);
  redrawMarks();
  render(ed.lastPreview);
}

function finishCreate() {
  const chosen = ed.selection.slice();
  setMode("paint");
  if (!chosen.length) return;
  addEdit({ op: "create", units: chosen.map(function (s) { return s.id; }) },
    chosen.map(function (s) { return { geometry: s.geometry, style: CREATED_STYLE }; }));
}

function finishSplit() {
  const line = { type: "LineString", coordinates: ed.line.slice() };
  setMode("paint");
  if (line.coordinates.length < 2) return;
  addEdit({ op: "split", grid: ed.target, line: line }, [{ geometry: line, style: LINE }]);
}

// The outline being reshaped (a Leaflet polygon under Geoman's vertex editing), or null.
let shaping = null;

function startReshape() {
  setMode("reshape");
  shaping = L.geoJSON(ed.targetGeometry, { style: function () { return SHAPE_STYLE; } }).getLayers()[0];
  shaping.addTo(map);
  // Snap to every vector on the map within 12 px: roads, walls, building corners, other grids.
  // Self-intersections are allowed while dragging (Geoman would otherwise freeze every vertex
  // of an outline the map simplified into one); the server repairs the ring it receives.
  shaping.pm.enable({ snappable: true, snapDistance: 12, allowSelfIntersection: true });
}

function dropShaping() {
  if (!shaping) return;
  shaping.pm.disable();
  map.removeLayer(shaping);
  shaping = null;
}

function finishReshape() {
  const geometry = shaping.toGeoJSON(7).geometry;
  dropShaping();
  setMode("paint");
  const edit = { op: "reshape", grid: ed.target, geometry: geometry };
  // Unticked, the neighbours keep their land and the check reports the overlap.
  if (!el("editor-reshape-take").checked) edit.take = false;
  addEdit(edit, [{ geometry: geometry, style: SHAPE_STYLE }]);
}

function updateButtons() {
  const grid = !!ed.target;
  if (ed.mode !== "reshape") dropShaping();
  const busy = ed.mode === "create" || ed.mode === "split" || ed.mode === "reshape";
  el("editor-reshape").textContent = ed.mode === "reshape" ? M.edit_reshape_done : M.edit_reshape;
  el("editor-reshape").disabled = !grid || !L.PM || (busy && ed.mode !== "reshape");
  el("editor-create").textContent = ed.mode === "create" ?
    M.edit_create_done.replace("{n}", ed.selection.length) : M.edit_create;
  el("editor-split").textContent = ed.mode === "split" ? M.edit_split_done : M.edit_split;
  el("editor-split").disabled = !grid || (busy && ed.mode !== "split");
  el("editor-create").disabled = busy && ed.mode !== "create";
  el("editor-merge").disabled = !grid || busy;
  el("editor-delete").disabled = !grid || busy;
  el("editor-lock").disabled = !grid || busy;
  el("editor-lock").textContent = grid && targetLocked() ? M.edit_unlock : M.edit_lock;
  el("editor-inspect").classList.toggle("active", ed.mode === "inspect");
}

export function initTools() {
  if (!cfg.editable || !el("editor-create")) return;
  registerMode("create", selectBlock, function () {
    return M.edit_create_hint.replace("{n}", ed.selection.length);
  });
  registerMode("merge", mergeWith, function () { return M.edit_merge_hint.replace("{grid}", ed.target); });
  registerMode("split", addPoint, function () {
    return M.edit_split_hint.replace("{grid}", ed.target).replace("{n}", ed.line.length);
  });
  registerMode("reshape", null, function () { return M.edit_reshape_hint.replace("{grid}", ed.target); });
  onChange(updateButtons);
  el("editor-reshape").onclick = function () {
    if (ed.mode === "reshape") finishReshape();
    else startReshape();
  };
  el("editor-create").onclick = function () {
    if (ed.mode === "create") finishCreate();
    else setMode("create");
  };
  el("editor-merge").onclick = function () { setMode(ed.mode === "merge" ? "paint" : "merge"); };
  el("editor-split").onclick = function () {
    if (ed.mode === "split") finishSplit();
    else setMode("split");
  };
  el("editor-delete").onclick = function () {
    const edit = { op: "delete", grid: ed.target };
    const drawn = [{ geometry: ed.targetGeometry, style: GONE_STYLE }];
    setTarget(null);
    addEdit(edit, drawn);
  };
  el("editor-lock").onclick = function () {
    addEdit({ op: targetLocked() ? "unlock" : "lock", grid: ed.target });
  };
}
