// The summary box: households, coverage and the counts of the main layers.
import { getJSON } from "./api.js";
import { cfg } from "./config.js";
import { el, esc } from "./dom.js";
import { M, layerName, number } from "./i18n.js";
import { catalog } from "./state.js";

let summary = null;

function figure(n, label, warn) {
  return '<div class="figure' + (warn ? " warn" : "") + '"><div class="n">' + esc(number(n)) +
    '</div><div class="l">' + esc(label) + "</div></div>";
}

export function renderSummary() {
  const parts = [];
  const b = catalog.buildings;
  if (summary && b) {
    const hh = summary.households || {};
    parts.push(figure(hh.total || 0, M.households_total));
    parts.push(figure(b.count, layerName("buildings")));
    if (hh.roster) {
      parts.push(figure(hh.roster, M.households_roster));
      parts.push(figure(hh.estimated || 0, M.households_estimated));
    }
  }
  const cov = summary && summary.coverage;
  if (cov) {
    parts.push(figure(cov.households_uncovered, M.households_uncovered, cov.households_uncovered > 0));
    parts.push(figure(cov.buildings_uncovered, M.buildings_uncovered, cov.buildings_uncovered > 0));
  }
  ["grids", "zones", "stations", "compounds", "edge_areas"].forEach(function (n) {
    if (catalog[n]) parts.push(figure(catalog[n].count, layerName(n)));
  });
  el("summary").innerHTML = parts.length ? '<div class="figures">' + parts.join("") + "</div>" :
    '<div class="muted">' + esc(M.empty_store) + "</div>";
}

export function loadSummary() {
  return getJSON(cfg.urls.summary, { cache: "no-cache" }).then(function (s) {
    summary = s;
    renderSummary();
  });
}
