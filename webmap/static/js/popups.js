// A feature's pop-up: its attributes under the schema's names, values in the interface's
// language (coded values by name, the nearest station by its name, unset limits left out),
// then the sections other modules add (the editor's forms).
import { esc } from "./dom.js";
import { M, fieldLabel, layerName, number, valueLabel } from "./i18n.js";
import { catalog, state } from "./state.js";

// Fields where 0 means "not set" (a station with no capacity limit), not a figure.
const ZERO_UNSET = new Set(["capacity"]);
const sections = [];

// fn(layer name, feature) → HTML put under the attributes ("" for none).
export function addPopupSection(fn) { sections.push(fn); }

// A station by its id, from the stations drawn on the map: its name, else "station" and its
// site's id (not the model-prefixed station id); the id itself when it is not drawn.
function stationName(id) {
  const s = state.stations;
  let name = null;
  if (s) {
    s.group.eachLayer(function (l) {
      const p = l.feature && l.feature.properties;
      if (p && String(p.station_id) === String(id)) name = p.name || M.station + " " + (p.site_id || id);
    });
  }
  return name || id;
}

export function popupHtml(name, f) {
  const entry = catalog[name];
  const p = f.properties || {};
  const title = layerName(name);
  const idText = p.name || (entry.key && p[entry.key]) || f.id;
  const rows = entry.fields.map(function (fd) {
    let v = p[fd.name];
    if (v === null || v === undefined || v === "") return "";
    if (ZERO_UNSET.has(fd.name) && v === 0) return "";
    if (fd.type === "bool") v = v ? M.yes : M.no;
    else if (fd.type === "float") v = number(Math.round(v * 10) / 10);
    else if (fd.type === "int") v = number(v);
    else if (fd.name === "station_id" && name !== "stations") v = stationName(v);
    else v = valueLabel(fd, v);
    return "<tr><th>" + esc(fieldLabel(fd)) + "</th><td>" + esc(v) + "</td></tr>";
  }).join("");
  const extra = sections.map(function (fn) { return fn(name, f); }).join("");
  // The forms first: a long attribute table would scroll them out of the pop-up.
  return '<div class="popup"><h3>' + esc(title) + " · " + esc(idText) + "</h3>" + extra + "<table>" + rows +
    "</table></div>";
}
