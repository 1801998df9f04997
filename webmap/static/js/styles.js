// How each layer is drawn. order: drawing order (higher on top); visible: shown at start (the
// first view: community, grids with their labels, buildings, stations, and the roads, the base
// map when there is no tile basemap, which vertex editing snaps to; the rest, topology findings
// included, one click away);
// minZoom: drawn from there; fields: the attributes styling needs (large layers load only
// these and fetch the rest of a feature when it is clicked); svg: drawn hatched, in SVG.
// The legend of each layer is in legend.js, its text in the message catalogue. Layers
// unknown here still appear, with a generic style.
import { BARRIER, DISPUTED, EDGE, MAJOR, MEDIUM, NO_HOUSEHOLDS, PATHS, UNCOVERED, classColour,
  coverageKnown, darker, hashColour, householdBreaks } from "./colours.js";
import { esc } from "./dom.js";
import { M } from "./i18n.js";
import { canvas } from "./map.js";

const STYLES = {
  community: { order: 10.7, visible: true, interactive: false, style: function () {
    return { color: "#6a1b9a", weight: 3, dashArray: "10 5", fill: false };
  } },
  zones: { order: 2, visible: false, style: function () {
    // Canvas hit-tests polygons whether filled or not: the clickable part stays at the
    // bottom and the boundary is drawn on top, without events.
    return { stroke: false, fillOpacity: 0 };
  }, outlineOrder: 10.6, outline: function () {
    return { color: "#263238", weight: 4, fill: false, opacity: 0.8 };
  } },
  grids: { order: 3, visible: true, labels: true, style: function (f) {
    return { stroke: false, fillColor: hashColour(f.properties.grid_code), fillOpacity: 0.22 };
  }, outlineOrder: 10.5, outline: function (f) {
    // Boundaries drawn above roads and buildings: they are what the planner checks.
    const flagged = f.properties.flag;
    return { color: flagged ? DISPUTED : darker(hashColour(f.properties.grid_code)),
      weight: flagged ? 3 : 2.2, dashArray: flagged ? "6 4" : null, fill: false, opacity: 0.9 };
  } },
  scenario_grids: { order: 3.5, visible: false, style: function (f) {
    return { color: hashColour(f.properties.grid_code), weight: 2, dashArray: "8 4", fillOpacity: 0.05 };
  } },
  blocks: { order: 4, visible: false, minZoom: 15, style: function () {
    return { color: "#78909c", weight: 1, fillColor: "#b0bec5", fillOpacity: 0.08 };
  } },
  compounds: { order: 5, visible: false, style: function () {
    return { color: "#4f8a4b", weight: 1.2, fillColor: "#cfe8c5", fillOpacity: 0.3 };
  } },
  isochrones: { order: 6, visible: false, style: function (f, entry) {
    // Only the outermost ring (the walking threshold) is filled; inner rings are thin lines.
    const st = entry.stats.minutes;
    const outer = !st || f.properties.minutes >= st.max;
    // Network isochrones follow every street: outlines would draw a second street map.
    return { stroke: false, fillColor: "#29b6f6", fillOpacity: outer ? 0.16 : 0 };
  } },
  // Hatched in SVG above the canvas, but clicked through an invisible copy on the canvas
  // below the buildings (clickOutline): a building inside an edge area opens its own pop-up.
  edge_areas: { order: 7, visible: false, svg: true, clickOutline: true, style: function (f) {
    const disputed = f.properties.disputed;
    return { color: disputed ? DISPUTED : EDGE, weight: disputed ? 2 : 1, opacity: disputed ? 0.9 : 0.6,
      fillColor: disputed ? "url(#hatch-disputed)" : "url(#hatch-edge)", fillOpacity: 1 };
  }, outlineOrder: 7, outline: function () { return { stroke: false, fillOpacity: 0 }; } },
  barriers: { order: 8, visible: false, style: function (f) {
    const s = BARRIER[f.properties.kind] || { color: "#616161", weight: 2 };
    return { color: s.color, weight: s.weight, dashArray: s.dashArray || null, opacity: 0.95 };
  } },
  roads: { order: 9, visible: true, style: function (f) {
    const h = f.properties.highway;
    if (MAJOR[h]) return { color: "#f3c35b", weight: 6, opacity: 0.95 };
    if (MEDIUM[h]) return { color: "#ffffff", weight: 4, opacity: 1 };
    if (PATHS[h]) return { color: "#9e9e9e", weight: 1.2, dashArray: "3 3" };
    return { color: "#ffffff", weight: f.properties.internal ? 2 : 3, opacity: 0.95 };
  } },
  buildings: { order: 10, visible: true, fields: ["households", "covered"], style: function (f, entry) {
    const p = f.properties;
    // A cell of a generalised tile (a district at low zoom) is coloured by its buildings'
    // mean households, as its buildings would be.
    const hh = p.cell ? p.households / p.cell : p.households;
    const fill = hh > 0 ? classColour(hh, householdBreaks(entry)) : NO_HOUSEHOLDS;
    const s = { color: "#6d5a4b", weight: p.cell ? 0 : 0.6, fillColor: fill, fillOpacity: 0.9 };
    if (coverageKnown(entry) && hh > 0 && !p.covered) {
      s.color = UNCOVERED;
      s.weight = 2.5;
    }
    return s;
  } },
  walk_edges: { order: 11, visible: false, minZoom: 16, fields: ["kind"], style: function (f) {
    return { color: f.properties.kind === "gate" ? "#ff7043" : "#78909c", weight: 1, opacity: 0.8 };
  } },
  walk_nodes: { order: 11.5, visible: false, minZoom: 17, fields: ["kind"], point: function (f, ll) {
    return L.circleMarker(ll, { renderer: canvas, radius: 2, color: "#546e7a", weight: 1, fillOpacity: 1 });
  } },
  gates: { order: 12, visible: false, point: function (f, ll) {
    const closed = f.properties.access === "no" || f.properties.access === "private";
    return L.circleMarker(ll, { renderer: canvas, radius: 4.5, color: "#fff", weight: 1.5,
      fillColor: closed ? "#8d8d8d" : "#ff6d00", fillOpacity: 1 });
  } },
  candidate_sites: { order: 13, visible: false, point: function (f, ll) {
    return L.circleMarker(ll, { renderer: canvas, radius: f.properties.generated ? 3.5 : 5, color: "#6a1b9a",
      weight: 1.5, fillColor: "#fff", fillOpacity: 1 });
  } },
  stations: { order: 14, visible: true, point: function (f, ll) {
    const status = f.properties.status || "existing";
    const text = status === "existing" ? M.icon_existing : status === "proposed" ? M.icon_proposed : M.icon_planned;
    return L.marker(ll, { icon: L.divIcon({ className: "", iconSize: [26, 26],
      html: '<div class="station-icon ' + esc(status) + '">' + text + "</div>" }),
      riseOnHover: true, keyboard: false });
  } },
  findings: { order: 15, visible: false, style: function () {
    // Unfilled, so the features under a problem area stay clickable.
    return { color: "#d50000", weight: 3, dashArray: "8 5", fill: false, opacity: 0.9 };
  }, point: function (f, ll) {
    return L.circleMarker(ll, { renderer: canvas, radius: 7, color: "#c62828", weight: 2, fillColor: "#ef5350", fillOpacity: 0.6 });
  } },
  // Household plausibility warnings: amber diamonds apart from the red topology findings;
  // hidden at first (a warning is not a plan defect), grey once dismissed.
  household_warnings: { order: 15.5, visible: false, fields: ["dismissed"], point: function (f, ll) {
    const done = f.properties.dismissed;
    return L.circleMarker(ll, { renderer: canvas, radius: 6, color: done ? "#9e9e9e" : "#e65100", weight: 2,
      fillColor: done ? "#e0e0e0" : "#ffb300", fillOpacity: 0.8 });
  } },
};

function genericStyle(name) {
  const c = hashColour(name);
  return { order: 20, visible: true, style: function () {
    return { color: c, weight: 1.5, fillColor: c, fillOpacity: 0.2 };
  }, point: function (f, ll) {
    return L.circleMarker(ll, { renderer: canvas, radius: 4, color: c, weight: 1, fillColor: c, fillOpacity: 0.8 });
  } };
}

export function styleOf(name) { return STYLES[name] || genericStyle(name); }
