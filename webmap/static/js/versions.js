// The plan's versions (方案版本): listed newest first with who, when and why; compared with the
// current one (grids added, removed, reshaped, households moved, codes kept); rolled back to
// (a new version equal to the old one) by accounts that may edit, published by admins.
import { getJSON } from "./api.js";
import { bodyWithCommunity, onCommunity, withCommunity } from "./community.js";
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { M, number } from "./i18n.js";
import { reloadCatalog } from "./layers.js";

function send(url, version) {
  return getJSON(url, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(bodyWithCommunity({ version: version })) });
}

function row(v, current) {
  const badges = (v.current ? '<span class="badge">' + esc(M.version_current) + "</span>" : "") +
    (v.published ? '<span class="badge">' + esc(M.version_published) + "</span>" : "");
  const when = String(v.time || "").replace("T", " ").slice(0, 16);
  let buttons = "";
  if (v.plan_version !== current) {
    buttons += '<button type="button" data-diff="' + v.plan_version + '">' + esc(M.version_compare) + "</button>";
    if (cfg.editable) buttons += '<button type="button" data-rollback="' + v.plan_version + '">' + esc(M.version_rollback) + "</button>";
  }
  if (cfg.publishable && !v.published) {
    buttons += '<button type="button" data-publish="' + v.plan_version + '">' + esc(M.version_publish) + "</button>";
  }
  return '<li data-version="' + v.plan_version + '"><b>v' + v.plan_version + "</b>" + badges + " " + esc(when) +
    (v.user ? " · " + esc(v.user) : "") + " · " + number(v.grids) + " " + esc(M.grid) + " · " + number(v.households) +
    " " + esc(M.households_short) + '<br><span class="muted">' + esc(v.reason || "") + "</span><br>" + buttons + "</li>";
}

export function loadVersions() {
  if (!cfg.plan_readable) return Promise.resolve();
  return getJSON(withCommunity(cfg.urls.plan_versions), { cache: "no-cache" }).then(function (answer) {
    const list = answer.versions.slice().reverse();
    el("versions-list").innerHTML = list.length ? list.map(function (v) { return row(v, answer.current); }).join("") :
      '<li class="muted">' + esc(M.versions_none) + "</li>";
    el("versions-box").dataset.current = String(answer.current);
    el("versions-box").dataset.community = answer.community || "";
  }).catch(function (err) { showStatus(M.error + ": " + err.message); });
}

function codes(label, list) {
  return list.length ? "<p>" + esc(label) + "：" + list.map(esc).join("，") + "</p>" : "";
}

function showDiff(a, b) {
  const u = withCommunity(cfg.urls.plan_diff + "?a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b));
  return getJSON(u).then(function (d) {
    const changed = d.households_changed.map(function (c) {
      return esc(c.grid_code) + " " + number(c.old) + "→" + number(c.new);
    });
    const same = !d.added.length && !d.removed.length && !d.reshaped.length && !changed.length;
    el("versions-diff").innerHTML = "<h3>" + esc(M.diff_title.replace("{a}", d.old).replace("{b}", d.new)) + "</h3>" +
      (same ? "<p>" + esc(M.diff_none) + "</p>" : "") +
      codes(M.diff_added, d.added) + codes(M.diff_removed, d.removed) + codes(M.diff_reshaped, d.reshaped) +
      (changed.length ? "<p>" + esc(M.diff_households) + "：" + changed.join("，") + "</p>" : "") +
      "<p>" + esc(M.diff_moved.replace("{n}", number(d.households_moved))) + " · " +
      esc(M.diff_kept.replace("{n}", number(d.kept))) + "</p>";
  });
}

export function initVersions() {
  if (!cfg.plan_readable) return;
  el("versions-box").hidden = false;
  el("versions-list").addEventListener("click", function (ev) {
    const b = ev.target.closest("button");
    if (!b) return;
    const current = el("versions-box").dataset.current;
    let done;
    if (b.dataset.diff) done = showDiff(b.dataset.diff, current);
    else if (b.dataset.rollback) {
      done = send(cfg.urls.plan_rollback, Number(b.dataset.rollback)).then(function (r) {
        showStatus(M.version_rolled_back.replace("{old}", r.rolled_back_to).replace("{version}", r.version));
        return Promise.all([loadVersions(), reloadCatalog()]);
      });
    } else if (b.dataset.publish) {
      done = send(cfg.urls.plan_publish, Number(b.dataset.publish)).then(function (r) {
        showStatus(M.version_published_now.replace("{version}", r.published));
        return loadVersions();
      });
    }
    if (done) done.catch(function (err) { showStatus(M.error + ": " + err.message); });
  });
  onCommunity(function () { el("versions-diff").innerHTML = ""; loadVersions(); });
  loadVersions();
}
