// Contacts in pop-ups, for logged-in users (the server sends the staff layer to no one else): a
// grid's leader and workers, a building's leader (楼长), each with a tap-to-call link.
import { featuresUrl, getJSON } from "./api.js";
import { cfg } from "./config.js";
import { esc } from "./dom.js";
import { M } from "./i18n.js";
import { addPopupSection } from "./popups.js";

const byGrid = {};
const byBuilding = {};

function person(p) {
  const digits = String(p.phone || "").replace(/[^0-9+]/g, "");
  const call = digits ? ' <a class="tel" href="tel:' + esc(digits) + '">' + esc(p.phone) + "</a>" : "";
  return "<li>" + esc(p.name) + " <small>" + esc(M["m_role_" + p.role] || p.role) + "</small>" + call + "</li>";
}

function section(name, f) {
  const p = f.properties || {};
  let people = [];
  if (name === "grids") people = byGrid[p.grid_code] || [];
  else if (name === "buildings") people = byBuilding[p.building_id] || [];
  if (!people.length) return "";
  return '<div class="contacts"><b>' + esc(M.contacts) + '</b><ul>' + people.map(person).join("") + "</ul></div>";
}

export function initContacts() {
  if (!cfg.user) return;
  getJSON(featuresUrl("staff", { limit: 10000 })).then(function (fc) {
    fc.features.forEach(function (f) {
      const p = f.properties;
      if (p.role === "building_leader" && p.building_id) (byBuilding[p.building_id] = byBuilding[p.building_id] || []).push(p);
      else (byGrid[p.grid_code] = byGrid[p.grid_code] || []).push(p);
    });
    addPopupSection(section);
  }).catch(function () { /* no staff layer in this store, or not for this role */ });
}
