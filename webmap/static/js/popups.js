// A feature's pop-up: its attributes under the schema's names, values in the interface's language.
import { esc } from "./dom.js";
import { M, fieldLabel, layerName, number, valueLabel } from "./i18n.js";
import { catalog } from "./state.js";

export function popupHtml(name, f) {
  const entry = catalog[name];
  const p = f.properties || {};
  const title = layerName(name);
  const idText = p.name || (entry.key && p[entry.key]) || f.id;
  const rows = entry.fields.map(function (fd) {
    let v = p[fd.name];
    if (v === null || v === undefined || v === "") return "";
    if (fd.type === "bool") v = v ? M.yes : M.no;
    else if (fd.type === "float") v = number(Math.round(v * 10) / 10);
    else if (fd.type === "int") v = number(v);
    else v = valueLabel(fd, v);
    return "<tr><th>" + esc(fieldLabel(fd)) + "</th><td>" + esc(v) + "</td></tr>";
  }).join("");
  return '<div class="popup"><h3>' + esc(title) + " · " + esc(idText) + "</h3><table>" + rows + "</table></div>";
}
