// Edits made in pop-ups (for accounts that may edit): a building's households with a reason,
// or back to the estimate ("clear manual figure"); a grid's name. Each goes onto the editor's
// stack like any edit, opening an editing session if none is open.
import { cfg } from "./config.js";
import { esc, showStatus } from "./dom.js";
import { addEdit, ensureEditing } from "./editor.js";
import { M } from "./i18n.js";
import { map } from "./map.js";
import { addPopupSection } from "./popups.js";

function householdsForm(p) {
  const id = esc(p.building_id);
  const clear = p.households_source === "manual" ?
    '<button type="button" class="hh-clear" data-building="' + id + '">' + esc(M.edit_hh_clear) + "</button>" : "";
  return '<form class="edit-form hh-form" data-building="' + id + '">' +
    "<label>" + esc(M.households) + ' <input name="value" type="number" min="0" step="1" required value="' +
    esc(p.households === null || p.households === undefined ? "" : p.households) + '"></label>' +
    "<label>" + esc(M.edit_reason) + ' <input name="reason" required placeholder="' + esc(M.edit_reason_hint) + '"></label>' +
    '<button type="submit">' + esc(M.edit_hh_set) + "</button>" + clear + "</form>";
}

function renameForm(p) {
  return '<form class="edit-form rename-form" data-grid="' + esc(p.grid_code) + '">' +
    "<label>" + esc(M.edit_grid_name) + ' <input name="name" required value="' + esc(p.name || "") + '"></label>' +
    '<button type="submit">' + esc(M.edit_rename) + "</button></form>";
}

function section(name, f) {
  const p = f.properties || {};
  if (name === "buildings" && p.building_id !== undefined && "households" in p) return householdsForm(p);
  if (name === "grids" && p.grid_code) return renameForm(p);
  return "";
}

function add(edit) {
  ensureEditing().then(function () {
    map.closePopup();
    showStatus(M.edit_added);
    return addEdit(edit);
  });
}

export function initForms() {
  if (!cfg.editable) return;
  addPopupSection(section);
  const box = map.getContainer();
  box.addEventListener("submit", function (ev) {
    const form = ev.target.closest("form.edit-form");
    if (!form) return;
    ev.preventDefault();
    if (form.dataset.building) {
      add({ op: "households", building: form.dataset.building, value: Number(form.elements.value.value),
        reason: form.elements.reason.value.trim() });
    } else {
      add({ op: "rename", grid: form.dataset.grid, name: form.elements.name.value.trim() });
    }
  });
  // Capturing: Leaflet stops clicks in a pop-up from bubbling up to the map.
  box.addEventListener("click", function (ev) {
    const button = ev.target.closest("button.hh-clear");
    if (button) add({ op: "clear_households", building: button.dataset.building });
  }, true);
}
