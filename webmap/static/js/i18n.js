// Interface text. Every string comes from the message catalogue of planner_web.i18n, sent with
// the page; names from the schema (layers, fields, coded values) are Chinese in a Chinese
// interface and the English identifiers otherwise. The only module that looks at the language.
import { cfg } from "./config.js";
import { catalog } from "./state.js";

export const M = cfg.messages;
// Names of coded values and English field labels from the catalogue (planner_web.i18n.VALUES).
const VALUES = cfg.values || {};
const CHINESE = cfg.lang === "zh";

// Numbers grouped the way the interface's language writes them (html_lang is its locale).
export function number(v) {
  return typeof v === "number" ? v.toLocaleString(M.html_lang) : v;
}

// A schema name: the Chinese one, or the identifier with spaces for underscores.
function schemaName(zh, name) {
  return CHINESE ? zh : name.replace(/_/g, " ");
}

export function layerName(name) {
  const e = catalog[name];
  if (!e) return name;
  return schemaName(e.zh, name);
}

// A field: its Chinese name, or the catalogue's English label, else its identifier with
// units spelt out (walk_m → "walk (m)", area_m2 → "area (m²)").
export function fieldLabel(f) {
  if (CHINESE) return f.zh;
  const label = VALUES["field:" + f.name];
  if (label) return label;
  return f.name.replace(/_m2$/, " (m²)").replace(/_m$/, " (m)").replace(/_/g, " ");
}

// A coded value by its name in the interface's language: the catalogue's name for this field's
// value or for the value anywhere, else the schema's Chinese name (户数来源: 台账, 估算).
export function valueLabel(fd, v) {
  const named = VALUES[fd.name + ":" + v] || VALUES[String(v)];
  if (named) return named;
  return CHINESE && fd.values_zh && fd.values_zh[v] ? fd.values_zh[v] : v;
}

// The layer of a search hit as the hit names it (Chinese name, or the layer's identifier).
export function hitLayer(hit) { return CHINESE ? hit.zh : hit.layer; }

// An analysis step by its id (the API's label is the engine's English one).
export function stepLabel(id, label) { return M["step_" + id] || label || id; }

// What a running analysis is doing: the engine's progress message in the interface's language
// (an English message the catalogue does not name is left out of a Chinese page).
export function progressLabel(message) {
  const named = VALUES["progress:" + message];
  if (named) return named;
  return CHINESE ? "" : message;
}
