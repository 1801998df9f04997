// The analysis box: a button per step (and one for all), the running job's state, polled.
import { getJSON } from "./api.js";
import { cfg } from "./config.js";
import { el, esc } from "./dom.js";
import { M } from "./i18n.js";
import { reloadCatalog } from "./layers.js";

function renderAnalysis(info) {
  const box = el("analysis");
  if (!cfg.analysis_enabled || !info.enabled) { el("analysis-box").hidden = true; return; }
  if (!info.steps.length) { box.innerHTML = '<div class="muted">' + esc(M.no_steps) + "</div>"; return; }
  box.innerHTML = info.steps.map(function (s) {
    return '<button type="button" data-step="' + esc(s.id) + '">' + esc(s.label) + "</button>";
  }).join("") + '<button type="button" data-step="' + esc(info.all) + '">' + esc(M.run_all) + "</button>" +
    '<div id="job" class="job"></div>';
  box.onclick = function (e) {
    const step = e.target.dataset && e.target.dataset.step;
    if (!step) return;
    setButtons(true);
    getJSON(cfg.urls.analysis + "/" + encodeURIComponent(step), { method: "POST" })
      .then(poll).catch(function (err) { setButtons(false); jobText({ state: "failed", error: err.message }); });
  };
}

function setButtons(disabled) {
  Array.prototype.forEach.call(el("analysis").querySelectorAll("button"), function (b) { b.disabled = disabled; });
}

function jobText(job) {
  const j = el("job");
  if (!j) return;
  const label = M["job_" + job.state] || job.state;
  const last = job.progress && job.progress.length ? " · " + job.progress[job.progress.length - 1] : "";
  j.className = "job" + (job.state === "failed" ? " failed" : "");
  j.textContent = (job.label ? job.label + ": " : "") + label + (job.error ? " — " + job.error : last);
}

// Follow a job every second until it ends; a finished run redraws the map from the new layers.
function poll(job) {
  jobText(job);
  if (job.state === "done" || job.state === "failed") {
    setButtons(false);
    if (job.state === "done") reloadCatalog();
    return;
  }
  setTimeout(function () {
    getJSON(cfg.urls.jobs + "/" + job.id).then(poll).catch(function () { setButtons(false); });
  }, 1000);
}

export function initAnalysis() {
  getJSON(cfg.urls.analysis).then(renderAnalysis).catch(function () { el("analysis-box").hidden = true; });
}
