// Paint mode's brush and lasso: with a grid picked, press and drag across the map (brush) to
// move every block the pointer passes over into the grid, or draw a free outline (lasso) to move
// the blocks whose representative point lies inside it. The blocks of the view are fetched once
// (and again when the view moves) and hit-tested here (edit_hit.js), never one request per block;
// the blocks hit are shown while dragging, and the stroke becomes one assign edit — one undo step
// — when the pointer is released (Escape drops it). The map does not pan while a brush or lasso
// is on.
import { featuresUrl, getJSON } from "./api.js";
import { cfg } from "./config.js";
import { el, showStatus } from "./dom.js";
import { LINE, PAINT_STYLE, addEdit, ed, onChange, registerMode, setMode } from "./editor.js";
import { bboxOf, contains, interiorPoint, inPolygon } from "./edit_hit.js";
import { M } from "./i18n.js";
import { map } from "./map.js";

// Pixels between two tested points of a brush stroke: no block wider than this is skipped.
const STEP_PX = 3;
const STROKE_STYLE = Object.assign({}, LINE, { dashArray: null, opacity: 0.6 });

// The blocks of the view: [{id, geometry, box, point}], and the promise that fetches them.
let units = [];
let loading = null;
let loadedView = "";
let unitsView = "";  // the view the blocks in `units` are of
// The stroke being drawn: its lat/lngs, the blocks hit (id → unit), the drawing on the map.
let stroke = null;
const drawn = L.layerGroup().addTo(map);

function viewKey() {
  const b = map.getBounds();
  return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
}

// Fetch the blocks of the view (one request; again only when the view changed).
function loadUnits() {
  const key = viewKey();
  if (loading && key === loadedView) return loading;
  loadedView = key;
  loading = getJSON(featuresUrl("blocks", { bbox: key, limit: cfg.page_limit || 10000 })).then(function (fc) {
    units = fc.features.map(function (f) {
      return { id: String(f.properties.block_id), geometry: f.geometry, box: bboxOf(f.geometry),
        point: interiorPoint(f.geometry) };
    });
    unitsView = key;
    document.body.dataset.paintUnits = String(units.length);  // for tests: the blocks are here
    return units;
  }).catch(function (err) {
    loading = null;
    showStatus(M.error + ": " + err.message);
    return [];
  });
  return loading;
}

// The block holding a point (lng/lat), from those of the view.
function unitAt(latlng) {
  for (let i = 0; i < units.length; i++) {
    const u = units[i], b = u.box;
    if (latlng.lng >= b[0] && latlng.lng <= b[2] && latlng.lat >= b[1] && latlng.lat <= b[3] &&
        contains(u.geometry, latlng)) return u;
  }
  return null;
}

// Points every STEP_PX pixels from a to b (b included), so a fast drag skips no block.
function between(a, b) {
  const pa = map.latLngToContainerPoint(a), pb = map.latLngToContainerPoint(b);
  const n = Math.max(1, Math.ceil(pa.distanceTo(pb) / STEP_PX));
  const out = [];
  for (let i = 1; i <= n; i++) out.push(map.containerPointToLatLng(pa.add(pb.subtract(pa).multiplyBy(i / n))));
  return out;
}

function brushHits(s, points) {
  points.forEach(function (p) {
    const u = unitAt(p);
    if (u) s.hit.set(u.id, u);
  });
}

// The blocks of a whole brush stroke (again, when the blocks arrived after the pointer moved).
function brushAll(s) {
  s.hit.clear();
  brushHits(s, [s.points[0]]);
  for (let i = 1; i < s.points.length; i++) brushHits(s, between(s.points[i - 1], s.points[i]));
}

function lassoHits() {
  stroke.hit.clear();
  if (stroke.points.length < 3) return;
  const ring = stroke.points.map(function (p) { return [p.lng, p.lat]; });
  ring.push(ring[0]);
  units.forEach(function (u) {
    if (u.point && inPolygon(ring, u.point)) stroke.hit.set(u.id, u);
  });
}

function redrawStroke() {
  drawn.clearLayers();
  if (!stroke) return;
  stroke.hit.forEach(function (u) {
    L.geoJSON(u.geometry, { style: PAINT_STYLE, interactive: false }).addTo(drawn);
  });
  const line = ed.mode === "lasso" ? L.polygon(stroke.points, Object.assign({ fill: false }, STROKE_STYLE)) :
    L.polyline(stroke.points, STROKE_STYLE);
  line.options.interactive = false;
  line.addTo(drawn);
  document.body.dataset.strokeUnits = String(stroke.hit.size);
}

function active() { return ed.on && (ed.mode === "brush" || ed.mode === "lasso") && ed.target; }

function onDown(ev) {
  if (!active() || ev.button !== 0 || ev.target.closest(".leaflet-control, .leaflet-popup")) return;
  ev.preventDefault();
  ev.stopPropagation();
  map.getContainer().setPointerCapture(ev.pointerId);
  const at = map.mouseEventToLatLng(ev);
  stroke = { pointer: ev.pointerId, points: [at], hit: new Map() };
  loadUnits().then(function () {
    if (!stroke) return;
    if (ed.mode === "brush") brushAll(stroke);
    else lassoHits();
    redrawStroke();
  });
  redrawStroke();
}

function onMove(ev) {
  if (!stroke || ev.pointerId !== stroke.pointer) return;
  ev.stopPropagation();
  const at = map.mouseEventToLatLng(ev);
  const last = stroke.points[stroke.points.length - 1];
  if (ed.mode === "brush") {
    const points = between(last, at);
    stroke.points.push(at);
    // Tested now if the blocks are here; else once they arrive (onDown tests the whole stroke).
    if (unitsView === loadedView) brushHits(stroke, points);
  } else {
    if (map.latLngToContainerPoint(last).distanceTo(map.latLngToContainerPoint(at)) < STEP_PX) return;
    stroke.points.push(at);
    lassoHits();
  }
  redrawStroke();
}

function onUp(ev) {
  if (!stroke || ev.pointerId !== stroke.pointer) return;
  ev.stopPropagation();
  const done = stroke;
  loadUnits().then(function () {
    if (stroke !== done) return;
    // The whole stroke again: the blocks may have arrived after the pointer moved on.
    if (ed.mode === "brush") brushAll(done);
    else lassoHits();
    stroke = null;
    drawn.clearLayers();
    const hit = Array.from(done.hit.values());
    if (!hit.length) { showStatus(M.edit_no_block); return; }
    addEdit({ op: "assign", units: hit.map(function (u) { return u.id; }), to: ed.target },
      hit.map(function (u) { return { geometry: u.geometry, style: PAINT_STYLE }; }));
  });
}

function cancel() {
  stroke = null;
  drawn.clearLayers();
}

function toggle(mode) {
  setMode(ed.mode === mode ? "paint" : mode);
}

function updateButtons() {
  if ((ed.mode === "brush" || ed.mode === "lasso") && !ed.target) { setMode("paint"); return; }
  const on = ed.mode === "brush" || ed.mode === "lasso";
  // The map must not pan under a stroke; it pans again in every other mode.
  if (on && map.dragging.enabled()) map.dragging.disable();
  else if (!on && !map.dragging.enabled()) map.dragging.enable();
  if (!on) cancel();
  else loadUnits();
  document.body.classList.toggle("brushing", on);
  const busy = ed.mode === "create" || ed.mode === "split" || ed.mode === "reshape" || ed.mode === "merge";
  ["brush", "lasso"].forEach(function (mode) {
    const button = el("editor-" + mode);
    button.disabled = !ed.target || busy;
    button.classList.toggle("active", ed.mode === mode);
    button.setAttribute("aria-pressed", ed.mode === mode ? "true" : "false");
  });
}

export function initPaint() {
  if (!cfg.editable || !el("editor-brush")) return;
  // A click ends every stroke: it must pick nothing and open no pop-up (editor.js stops it).
  registerMode("brush", function () {}, function () { return M.edit_brush_hint.replace("{grid}", ed.target); });
  registerMode("lasso", function () {}, function () { return M.edit_lasso_hint.replace("{grid}", ed.target); });
  onChange(updateButtons);
  el("editor-brush").onclick = function () { toggle("brush"); };
  el("editor-lasso").onclick = function () { toggle("lasso"); };
  const box = map.getContainer();
  // Capturing, so the layers (and Leaflet's own handlers) do not see a stroke's pointer.
  box.addEventListener("pointerdown", onDown, true);
  box.addEventListener("pointermove", onMove, true);
  box.addEventListener("pointerup", onUp, true);
  box.addEventListener("pointercancel", cancel, true);
  // Escape drops the stroke being drawn: nothing is edited.
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && stroke) cancel(); });
  map.on("moveend", function () { if (ed.mode === "brush" || ed.mode === "lasso") loadUnits(); });
}
