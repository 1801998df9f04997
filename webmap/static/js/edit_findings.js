// The editor's findings list (规则检查): every topology finding of the plan being edited, one
// line each (kind, what the check says, the grids concerned), drawn on the map; a click zooms
// to it. With no edit yet, the list is the plan's own check (a preview of no edits), so a
// planner opening the editor sees at once what is wrong; after each edit it is the edited
// plan's, from the same preview that gives the counts.
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { ed, onChange, post } from "./editor.js";
import { M, number } from "./i18n.js";
import { map } from "./map.js";

// The report order of planner.topology.checks.KINDS.
const KINDS = ["overlaps", "gaps", "multipart", "slivers", "outside_community", "split_buildings",
  "unassigned_buildings", "unassigned_edge_areas", "households_out_of_range"];
// Lines shown at most (the rest counted): a plan with hundreds of findings needs the check job.
const SHOWN = 40;
const ALL_STYLE = { color: "#d50000", weight: 2, dashArray: "3 3", fill: false };
const ZOOM_STYLE = { color: "#d50000", weight: 4, fillColor: "#ff5252", fillOpacity: 0.35 };

const drawn = L.layerGroup().addTo(map);
// The plan's own check, by the version it was made on: {base, report} (report null: asked).
let planCheck = { base: null, report: null };
let zoomed = null;

// Findings of the plan being edited: the last preview's, or the plan's own check.
function current() {
  if (ed.edits.length) return ed.lastPreview ? ed.lastPreview.findings : null;
  if (planCheck.base !== ed.base) {
    planCheck = { base: ed.base, report: null };
    const base = ed.base;
    const started = performance.now();
    post(cfg.urls.plan + "/preview", { base_version: base, edits: [] }).then(function (p) {
      if (planCheck.base !== base) return;
      document.body.dataset.checkMs = String(Math.round(performance.now() - started));
      planCheck.report = p.findings;
      show();
    }).catch(function (err) { showStatus(M.error + ": " + err.message); });
  }
  return planCheck.report;
}

function items(report) {
  const out = [];
  KINDS.forEach(function (kind) {
    (report[kind] || []).forEach(function (f) { out.push(Object.assign({ kind: kind }, f)); });
  });
  // Defects first: a flagged grid (out of range for a reason on record) does not fail the check.
  return out.filter(function (f) { return !f.flagged; }).concat(out.filter(function (f) { return f.flagged; }));
}

function line(f, i) {
  const grids = (f.grids || []).join("，");
  return '<li class="finding' + (f.flagged ? " flagged" : "") + '" data-index="' + i +
    '" data-kind="' + esc(f.kind) + '" data-grids="' + esc((f.grids || []).join(",")) + '"' +
    (f.ref ? ' data-ref="' + esc(f.ref) + '"' : "") +
    ' data-lon="' + f.point[0] + '" data-lat="' + f.point[1] + '"' + (f.flagged ? ' data-flagged="1"' : "") +
    ' tabindex="0" title="' + esc(M.edit_finding_zoom) + '"><b>' + esc(M["finding_" + f.kind] || f.kind) +
    "</b> " + esc(f.detail || grids) + (f.flagged ? ' <span class="muted">' + esc(M.edit_finding_flagged) + "</span>" : "") +
    "</li>";
}

let listed = [];

// Draw the list into the editor's panel (after each render) and the findings on the map.
function show() {
  drawn.clearLayers();
  const box = el("editor-status");
  if (!ed.on || !box) return;
  const old = el("editor-check");
  if (old) old.remove();
  const report = current();
  const part = document.createElement("div");
  part.id = "editor-check";
  if (!report) {
    part.innerHTML = '<p class="muted">' + esc(M.loading) + "</p>";
    box.appendChild(part);
    return;
  }
  listed = items(report);
  const defects = listed.filter(function (f) { return !f.flagged; }).length;
  let html = '<p id="editor-check-head" data-defects="' + defects + '" data-findings="' + listed.length + '">' +
    esc((ed.edits.length ? M.edit_check_edited : M.edit_check_plan).replace("{n}", number(defects))) + "</p>";
  if (listed.length) {
    html += '<ol id="editor-finding-list">' + listed.slice(0, SHOWN).map(line).join("") + "</ol>";
    if (listed.length > SHOWN) html += '<p class="muted">' + esc(M.edit_check_more.replace("{n}", number(listed.length - SHOWN))) + "</p>";
  }
  part.innerHTML = html;
  box.appendChild(part);
  listed.forEach(function (f) {
    if (f.geometry) L.geoJSON(f.geometry, { style: ALL_STYLE, interactive: false }).addTo(drawn);
  });
  if (zoomed && zoomed.geometry) L.geoJSON(zoomed.geometry, { style: ZOOM_STYLE, interactive: false }).addTo(drawn);
}

function zoomTo(f) {
  zoomed = f;
  show();
  const shape = L.geoJSON(f.geometry || { type: "Point", coordinates: f.point });
  const bounds = shape.getBounds();
  // Close enough to click a block, with the grids around it in view.
  map.fitBounds(bounds.pad(1.5), { maxZoom: 18, animate: false });
  if (map.getZoom() < 16) map.setView([f.point[1], f.point[0]], 16, { animate: false });
  document.body.dataset.finding = f.kind + ":" + (f.grids || []).join(",");
}

export function initFindings() {
  if (!cfg.editable || !el("editor-status")) return;
  onChange(function () {
    if (!ed.on) { zoomed = null; planCheck = { base: null, report: null }; }
    show();
  });
  // Stopping or saving ends the session without a render: clear the map then.
  new MutationObserver(function () {
    if (!document.body.classList.contains("editing")) { zoomed = null; drawn.clearLayers(); }
  }).observe(document.body, { attributes: true, attributeFilter: ["class"] });
  el("editor-status").addEventListener("click", function (ev) {
    const item = ev.target.closest("li.finding");
    if (item && listed[Number(item.dataset.index)]) zoomTo(listed[Number(item.dataset.index)]);
  });
}
