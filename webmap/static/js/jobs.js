// The analysis box: a button per step (and one for all), the running job's state, polled; steps
// and progress named in the page's language. A finished job shows its figures; one that proposes
// a plan (generate grids, check and fix, rebalance) shows the proposed
// plan's figures with 接受/放弃: accepting saves it as a new plan version and reloads the layers
// and the versions panel, discarding drops it (nothing was written).
import { getJSON } from "./api.js";
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { M, number, progressLabel, stepLabel } from "./i18n.js";
import { reloadCatalog } from "./layers.js";
import { loadVersions } from "./versions.js";

let current = null;  // the job shown

function renderAnalysis(info) {
  const box = el("analysis");
  if (!cfg.analysis_enabled || !info.enabled) { el("analysis-box").hidden = true; return; }
  if (!info.steps.length) { box.innerHTML = '<div class="muted">' + esc(M.no_steps) + "</div>"; return; }
  box.innerHTML = info.steps.map(function (s) {
    return '<button type="button" data-step="' + esc(s.id) + '">' + esc(stepLabel(s.id, s.label)) + "</button>";
  }).join("") + '<button type="button" data-step="' + esc(info.all) + '">' + esc(M.run_all) + "</button>" +
    '<div id="job" class="job"></div><div id="job-figures" class="job-figures"></div>' +
    '<div id="job-decide" class="job-decide" hidden>' +
    '<button type="button" id="job-accept">' + esc(M.job_accept) + "</button>" +
    '<button type="button" id="job-discard">' + esc(M.job_discard) + "</button></div>";
  box.onclick = function (e) {
    const step = e.target.dataset && e.target.dataset.step;
    if (!step) return;
    setButtons(true);
    el("job-figures").innerHTML = "";
    el("job-decide").hidden = true;
    getJSON(cfg.urls.analysis + "/" + encodeURIComponent(step), { method: "POST" })
      .then(poll).catch(function (err) { setButtons(false); jobText({ state: "failed", error: err.message }); });
  };
  el("job-accept").onclick = accept;
  el("job-discard").onclick = discard;
}

function setButtons(disabled) {
  Array.prototype.forEach.call(el("analysis").querySelectorAll("button[data-step]"), function (b) { b.disabled = disabled; });
}

function jobText(job) {
  const j = el("job");
  if (!j) return;
  let label = M["job_" + job.state] || job.state;
  if (job.pending) label = M.job_pending;
  else if (job.accepted) label = (job.unchanged ? M.job_unchanged : M.job_accepted).replace("{version}", job.accepted);
  else if (job.discarded) label = M.job_discarded;
  const doing = job.progress && job.progress.length && job.state === "running" ?
    progressLabel(job.progress[job.progress.length - 1]) : "";
  const last = doing ? " · " + doing : "";
  j.className = "job" + (job.state === "failed" ? " failed" : "");
  j.textContent = stepLabel(job.step, job.label) + ": " + label + (job.error ? " — " + job.error : last);
}

// One line per figure the job reports: the proposed plan's (grids, in and out of range, findings,
// changes against the current plan) or a finished step's (stations proposed, households covered).
function figureLines(f) {
  const lines = [];
  function add(key, value) { if (value !== undefined && value !== null) lines.push(M["fig_" + key].replace("{n}", number(value))); }
  add("grids", f.grids);
  if (f.in_range !== undefined && f.out_of_range !== undefined) {
    lines.push(M.fig_range.replace("{in}", number(f.in_range)).replace("{out}", number(f.out_of_range))
      .replace("{min}", number(f.min)).replace("{max}", number(f.max)));
  } else add("in_range", f.in_range);
  add("zones", f.zones);
  add("findings_total", f.findings_total);
  if (f.grids_added !== undefined) {
    lines.push(M.fig_changed.replace("{added}", number(f.grids_added)).replace("{removed}", number(f.grids_removed))
      .replace("{reshaped}", number(f.grids_reshaped)));
  }
  add("households_moved", f.households_moved);
  add("fixes", f.fixes);
  add("stations_proposed", f.stations_proposed);
  if (f.households_covered !== undefined && f.households_covered !== null) {
    lines.push(M.fig_covered.replace("{n}", number(f.households_covered)).replace("{total}", number(f.households_total || 0)));
  }
  return lines;
}

function showFigures(job) {
  const box = el("job-figures");
  const figures = job.figures || {};
  box.innerHTML = Object.keys(figures).map(function (step) {
    return "<ul>" + figureLines(figures[step]).map(function (l) { return "<li>" + esc(l) + "</li>"; }).join("") + "</ul>";
  }).join("");
  el("job-decide").hidden = !job.pending;
}

function decided(job) {
  current = job;
  jobText(job);
  showFigures(job);
  setButtons(false);
}

function accept() {
  if (!current) return;
  el("job-accept").disabled = true;
  getJSON(cfg.urls.jobs + "/" + current.id + "/accept", { method: "POST" }).then(function (job) {
    decided(job);
    showStatus((job.unchanged ? M.job_unchanged : M.job_accepted).replace("{version}", job.accepted));
    return Promise.all([loadVersions(), reloadCatalog()]);
  }).catch(function (err) {
    showStatus(M.job_accept_refused + "：" + err.message);
  }).then(function () { el("job-accept").disabled = false; });
}

function discard() {
  if (!current) return;
  getJSON(cfg.urls.jobs + "/" + current.id + "/discard", { method: "POST" }).then(function (job) {
    decided(job);
    el("job-figures").innerHTML = "";
  }).catch(function (err) { showStatus(M.error + ": " + err.message); });
}

// Follow a job every second until it ends; a finished run that wrote redraws the map from the
// new layers, a proposal waits for accept or discard.
function poll(job) {
  current = job;
  jobText(job);
  if (job.state === "done" || job.state === "failed" || job.state === "cancelled") {
    setButtons(false);
    showFigures(job);
    if (job.state === "done" && !job.pending) {
      reloadCatalog();
      loadVersions();
    }
    return;
  }
  setTimeout(function () {
    getJSON(cfg.urls.jobs + "/" + job.id).then(poll).catch(function () { setButtons(false); });
  }, 1000);
}

export function initAnalysis() {
  getJSON(cfg.urls.analysis).then(renderAnalysis).catch(function () { el("analysis-box").hidden = true; });
}
