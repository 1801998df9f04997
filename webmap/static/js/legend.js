// The legend: rows of swatches for each visible layer, in drawing order, text from the catalogue.
import { BARRIER, DISPUTED, HOUSEHOLD_COLOURS, NO_HOUSEHOLDS, PALETTE, UNCOVERED, coverageKnown,
  hashColour, householdBreaks } from "./colours.js";
import { el, esc } from "./dom.js";
import { M, layerName } from "./i18n.js";
import { catalog, state } from "./state.js";
import { styleOf } from "./styles.js";

function row(swatch, label) {
  return '<div class="row">' + swatch + "<span>" + esc(label) + "</span></div>";
}
function boxRow(fill, label, stroke, width) {
  const border = stroke ? "border:" + (width || 1) + "px solid " + stroke + ";" : "";
  return row('<span class="swatch" style="background:' + fill + ";" + border + '"></span>', label);
}
function lineRow(colour, label, dashed) {
  const extra = colour === "#ffffff" ? ";box-shadow:0 0 0 1px #b0b0b0" : "";
  return row('<span class="swatch line' + (dashed ? " dash" : "") + '" style="border-color:' +
    colour + extra + '"></span>', label);
}
function dotRow(fill, label, stroke) {
  return row('<span class="swatch dot" style="background:' + fill + ";border-color:" +
    (stroke || "#fff") + ';border-width:2px"></span>', label);
}

// Rows of each layer's legend, from its catalogue entry; other layers get one box of their colour.
const LEGENDS = {
  community: function () { return [lineRow("#6a1b9a", layerName("community"), true)]; },
  zones: function () { return [lineRow("#263238", layerName("zones"))]; },
  grids: function () {
    return [boxRow(PALETTE[0], M.grid + " (" + M.grid_coloured + ")"),
      lineRow(DISPUTED, M.grid_flagged, true)];
  },
  compounds: function () { return [boxRow("#cfe8c5", layerName("compounds"), "#5d9c59")]; },
  isochrones: function () { return [boxRow("#b3e5fc", layerName("isochrones"), "#0277bd")]; },
  edge_areas: function () {
    return [row('<span class="swatch hatch"></span>', M.edge_hatched),
      row('<span class="swatch hatch disputed"></span>', M.edge_disputed)];
  },
  barriers: function (entry) {
    const kinds = (entry.stats.kind && entry.stats.kind.values) || {};
    const names = { wall: M.wall, fence: M.fence, railway: M.railway, waterway: M.water, water: M.water };
    const seen = {};
    return Object.keys(kinds).filter(function (k) {
      const label = names[k] || k;
      if (seen[label]) return false;
      seen[label] = true;
      return true;
    }).map(function (k) {
      const s = BARRIER[k] || { color: "#616161" };
      return lineRow(s.color, names[k] || k, !!s.dashArray);
    });
  },
  roads: function () {
    return [lineRow("#f3c35b", M.road_main),
      lineRow("#ffffff", M.road_street),
      lineRow("#9e9e9e", M.road_path, true)];
  },
  buildings: function (entry) {
    const b = householdBreaks(entry);
    const rows = [];
    let lo = 1;
    for (let i = 0; i < HOUSEHOLD_COLOURS.length; i++) {
      const hi = i < b.length ? b[i] : null;
      const text = hi === null ? "≥ " + lo : lo + "–" + hi;
      rows.push(boxRow(HOUSEHOLD_COLOURS[i], M.households + " " + text));
      if (hi === null) break;
      lo = hi + 1;
    }
    rows.push(boxRow(NO_HOUSEHOLDS, M.no_households));
    if (coverageKnown(entry)) rows.push(boxRow("#fff", M.uncovered, UNCOVERED, 2));
    return rows;
  },
  gates: function () { return [dotRow("#ff6d00", M.gate), dotRow("#8d8d8d", M.gate_closed)]; },
  candidate_sites: function () { return [dotRow("#fff", M.candidate, "#6a1b9a")]; },
  stations: function () {
    return [row('<span class="station-icon existing">' + esc(M.icon_existing) + "</span>", M.station + "（" + M.existing + "）"),
      row('<span class="station-icon proposed">' + esc(M.icon_proposed) + "</span>", M.station + "（" + M.proposed + "）")];
  },
  findings: function () { return [lineRow("#d50000", M.finding, true)]; },
};

function legendRows(name) {
  const legend = LEGENDS[name];
  return legend ? legend(catalog[name]) : [boxRow(hashColour(name), layerName(name))];
}

export function updateLegend() {
  const names = Object.keys(state).filter(function (n) { return state[n].visible && catalog[n].count > 0; });
  names.sort(function (a, b) { return styleOf(b).order - styleOf(a).order; });
  el("legend").innerHTML = names.map(function (name) {
    return '<div class="group"><div class="group-title">' + esc(layerName(name)) + "</div>" + legendRows(name).join("") + "</div>";
  }).join("") || '<div class="muted">' + esc(M.basemap_none) + "</div>";
}
