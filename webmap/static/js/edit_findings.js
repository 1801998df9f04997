// The editor's findings list (规则检查): every topology finding of the plan being edited, one
// line each (kind, what the check says, the grids concerned), drawn on the map; a click zooms
// to it. With no edit yet, the list is the plan's own check (a preview of no edits), so a
// planner opening the editor sees at once what is wrong; after each edit it is the edited
// plan's, from the same preview that gives the counts.
//
// A finding with an obvious mend offers it on its line: a building cut between grids, an
// overlap of two grids, a gap next to grids — the block there goes whole into one of them
// ("放入 A（n 户）"; the households each choice leaves, from a preview of the session's edits
// with it, asked when the line is clicked: previews asked unbidden after every edit slowed
// the next live update and the save in the walkthrough). A click on a choice makes it an
// ordinary edit of the session, undone like any other.
import { bodyWithCommunity } from "./community.js";
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { PAINT_STYLE, addEdit, ed, onChange, post } from "./editor.js";
import { featureAt } from "./edit_hit.js";
import { M, number } from "./i18n.js";
import { map } from "./map.js";

// The report order of planner.topology.checks.KINDS.
const KINDS = ["overlaps", "gaps", "multipart", "slivers", "outside_community", "split_buildings",
  "unassigned_buildings", "unassigned_edge_areas", "households_out_of_range"];
// Lines shown at most (the rest counted): a plan with hundreds of findings needs the check job.
const SHOWN = 40;
const ALL_STYLE = { color: "#d50000", weight: 2, dashArray: "3 3", fill: false };
const ZOOM_STYLE = { color: "#d50000", weight: 4, fillColor: "#ff5252", fillOpacity: 0.35 };
// Kinds mended by putting the block there whole into one of the finding's grids.
const FIXABLE = ["split_buildings", "overlaps", "gaps"];

const drawn = L.layerGroup().addTo(map);
// The plan's own check, by the version it was made on: {base, report} (report null: asked).
let planCheck = { base: null, report: null };
let zoomed = null;

// Findings of the plan being edited: the last preview's, or the plan's own check.
function current() {
  if (ed.edits.length) return ed.lastPreview ? ed.lastPreview.findings : null;
  if (planCheck.base !== ed.base && ed.savedCheck && ed.savedCheck.version === ed.base) {
    planCheck = { base: ed.base, report: ed.savedCheck.findings };
  }
  if (planCheck.base !== ed.base) {
    planCheck = { base: ed.base, report: null };
    const base = ed.base;
    const started = performance.now();
    post(cfg.urls.plan + "/preview", bodyWithCommunity({ base_version: base, edits: [] })).then(function (p) {
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

// -- one-click mends ------------------------------------------------------------------

// The choices of each fixable finding, by key, for the session state they were made in:
// {units (ids, null until found), grids: {code: the preview of the session's edits with
// that choice, or null when the server refused it}}; a click on a choice previewed takes
// its figures at once.
let fixes = new Map();
let fixesFor = "";
let queue = Promise.resolve();

function state() { return ed.base + "|" + ed.seq + "|" + ed.edits.length; }

function fixable(f) {
  return !f.flagged && FIXABLE.indexOf(f.kind) >= 0 && (f.grids || []).filter(Boolean).length > 0 &&
    (f.kind !== "split_buildings" || !!f.ref);
}

function fixKey(f) { return f.kind + ":" + (f.ref || f.point.join(",")) + ":" + f.grids.join(","); }

// The units the mend moves: the cut building (its block goes with it), else the block
// under the finding.
function unitsOf(f) {
  if (f.kind === "split_buildings") return Promise.resolve([String(f.ref)]);
  return featureAt("blocks", L.latLng(f.point[1], f.point[0])).then(function (block) {
    return block ? [String(block.properties.block_id)] : [];
  });
}

function fixEdit(units, grid) { return { op: "assign", units: units, to: grid }; }

// Preview each choice of finding f, one after another; stale once the session moves on.
function prepare(f) {
  const key = fixKey(f);
  if (fixes.has(key)) return;
  const made = state();
  const fix = { units: null, grids: {}, made: made };
  fixes.set(key, fix);
  const base = ed.base;
  const edits = ed.edits.slice();
  queue = queue.then(function () {
    if (state() !== made) return null;
    return unitsOf(f).then(function (units) {
      fix.units = units;
      drawFix(f);
      return f.grids.reduce(function (chain, grid) {
        return chain.then(function () {
          if (state() !== made || !units.length) return null;
          return post(cfg.urls.plan + "/preview", bodyWithCommunity({ base_version: base, edits: edits.concat([fixEdit(units, grid)]) }))
            .then(function (p) { fix.grids[grid] = p; })
            .catch(function () { fix.grids[grid] = null; })
            .then(function () { if (state() === made) drawFix(f); });
        });
      }, Promise.resolve());
    });
  }).catch(function () { return null; });
}

function choice(f, fix, grid) {
  if (fix.grids[grid] === null) return "";
  const figures = fix.grids[grid] && fix.grids[grid].grids;
  let label = M.edit_fix_into.replace("{grid}", grid);
  let title = M.edit_fix_title.replace("{grid}", grid);
  let cls = "finding-fix";
  if (figures && figures[grid]) {
    label = M.edit_fix_into_hh.replace("{grid}", grid).replace("{n}", number(figures[grid].households));
    const concerned = f.grids.filter(function (g) { return figures[g]; });
    title += "：" + concerned.map(function (g) {
      return g + " " + number(figures[g].households) + " " + M.households_short + " " + (figures[g].in_range ? "✓" : "✗");
    }).join("，");
    if (concerned.some(function (g) { return !figures[g].in_range; })) cls += " out";
  }
  return '<button type="button" class="' + cls + '" data-grid="' + esc(grid) + '" title="' + esc(title) + '">' +
    esc(label) + "</button>";
}

function fixesHtml(f) {
  const fix = fixes.get(fixKey(f)) || { units: null, grids: {} };
  if (fix.units && !fix.units.length) return "";
  const shown = f.grids.filter(Boolean).map(function (g) { return choice(f, fix, g); }).join("");
  return shown ? '<span class="finding-fixes">' + shown + "</span>" : "";
}

function drawFix(f) {
  const item = document.querySelector('#editor-finding-list li.finding[data-key="' + CSS.escape(fixKey(f)) + '"]');
  if (!item) return;
  const old = item.querySelector(".finding-fixes");
  const html = fixesHtml(f);
  if (old) old.outerHTML = html;
  else if (html) item.insertAdjacentHTML("beforeend", html);
}

// Make the chosen mend an edit of the session.
function applyFix(f, grid) {
  const fix = fixes.get(fixKey(f));
  const units = fix && fix.units ? Promise.resolve(fix.units) : unitsOf(f);
  units.then(function (ids) {
    if (!ids.length) { showStatus(M.edit_no_block); return; }
    const known = fix && fix.made === state() ? fix.grids[grid] : null;
    addEdit(fixEdit(ids, grid), f.geometry ? [{ geometry: f.geometry, style: PAINT_STYLE }] : [], known || null);
  });
}

function line(f, i) {
  const grids = (f.grids || []).join("，");
  return '<li class="finding' + (f.flagged ? " flagged" : "") + '" data-index="' + i +
    '" data-key="' + esc(fixKey(f)) + '" data-kind="' + esc(f.kind) + '" data-grids="' + esc((f.grids || []).join(",")) + '"' +
    (f.ref ? ' data-ref="' + esc(f.ref) + '"' : "") +
    ' data-lon="' + f.point[0] + '" data-lat="' + f.point[1] + '"' + (f.flagged ? ' data-flagged="1"' : "") +
    ' tabindex="0" title="' + esc(M.edit_finding_zoom) + '"><b>' + esc(M["finding_" + f.kind] || f.kind) +
    "</b> " + esc(f.detail || grids) + (f.flagged ? ' <span class="muted">' + esc(M.edit_finding_flagged) + "</span>" : "") +
    (fixable(f) ? fixesHtml(f) : "") + "</li>";
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
  if (fixesFor !== state()) { fixes = new Map(); fixesFor = state(); }
  const defects = listed.filter(function (f) { return !f.flagged; }).length;
  let html = '<p id="editor-check-head" data-base="' + ed.base + '" data-edits="' + ed.edits.length +
    '" data-defects="' + defects + '" data-findings="' + listed.length + '">' +
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
  if (fixable(f)) prepare(f);
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
    const fix = ev.target.closest("button.finding-fix");
    if (fix && item && listed[Number(item.dataset.index)]) {
      applyFix(listed[Number(item.dataset.index)], fix.dataset.grid);
      return;
    }
    if (item && listed[Number(item.dataset.index)]) zoomTo(listed[Number(item.dataset.index)]);
  });
}
