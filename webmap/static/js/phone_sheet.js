// The phone view's bottom sheet: the nearest station (minutes, metres, address, hours, a
// tap-to-call phone and hand-off links to the phone's map app) and my grid (its totals, its
// staff and the building's leader, each with a tap-to-call link). Collapses to its handle,
// the locate button and the search box.
import { esc, el } from "./dom.js";
import { M, hitLayer, number } from "./i18n.js";

const sheet = el("sheet");
const toggle = el("sheet-toggle");

export function initSheet() {
  toggle.addEventListener("click", function () { setCollapsed(!sheet.classList.contains("collapsed")); });
}

export function setCollapsed(collapsed) {
  sheet.classList.toggle("collapsed", collapsed);
  toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
}

// The height the sheet covers at the bottom of the map (to fit a route above it).
export function sheetHeight() { return sheet.getBoundingClientRect().height; }

export function note(text) {
  const n = el("m-note");
  n.textContent = text || "";
  n.hidden = !text;
}

function fill(template, values) {
  return Object.keys(values).reduce(function (t, k) { return t.split("{" + k + "}").join(values[k]); }, template);
}

// A phone number as a tap-to-call link (digits, + and - only in the tel: URI).
function tel(phone) {
  if (!phone) return '<span class="muted">' + esc(M.m_no_phone) + "</span>";
  const digits = String(phone).replace(/[^0-9+]/g, "");
  return '<a class="tel" href="tel:' + esc(digits) + '" aria-label="' + esc(M.m_call + " " + phone) + '">' +
    esc(phone) + "</a>";
}

function person(p) {
  return '<li class="person"><span class="who"><b>' + esc(p.name) + "</b> <small>" +
    esc(M["m_role_" + p.role] || p.role) + "</small></span>" + tel(p.phone) + "</li>";
}

function row(label, value) {
  return value ? "<tr><th>" + esc(label) + "</th><td>" + esc(value) + "</td></tr>" : "";
}

export function renderStation(answer) {
  const box = el("m-station");
  const s = answer.station;
  if (!s) {
    box.innerHTML = '<div class="card"><h2>' + esc(M.m_nearest) + '</h2><p class="muted">' +
      esc(M.m_no_station) + "</p></div>";
    return;
  }
  const badge = s.planned ? '<span class="badge planned">' + esc(M.m_planned) + "</span>"
    : '<span class="badge existing">' + esc(M.m_existing) + "</span>";
  const walk = fill(M.m_walk, { minutes: number(Math.round(s.minutes)), meters: number(Math.round(s.walk_m)) });
  const from = s.start === "building" && s.building_id
    ? '<p class="muted">' + esc(fill(M.m_from_building, { building: s.building_id })) + "</p>" : "";
  const h = s.handoff || {};
  box.innerHTML = '<div class="card station"><h2>' + esc(M.m_nearest) + "</h2>" +
    '<p class="station-name"><b>' + esc(s.name || s.station_id) + "</b> " + badge + "</p>" +
    '<p class="minutes" id="m-minutes" data-minutes="' + esc(s.minutes) + '" data-walk-m="' + esc(s.walk_m) +
    '" data-station="' + esc(s.station_id) + '">' + esc(walk) + "</p>" + from +
    "<table>" + row(M.m_address, s.address) + row(M.m_hours, s.opening_hours) + row(M.m_services, s.services) +
    row(M.contacts, s.contact) +
    "</table>" + (s.phone ? '<p class="phone">' + esc(M.m_phone) + " " + tel(s.phone) + "</p>" : "") +
    '<p class="handoff-title">' + esc(M.m_handoff) + '</p><p class="handoff">' +
    '<a href="' + esc(h.geo) + '">' + esc(M.m_handoff_geo) + "</a>" +
    '<a href="' + esc(h.amap) + '" rel="noopener">' + esc(M.m_handoff_amap) + "</a>" +
    '<a href="' + esc(h.baidu) + '" rel="noopener">' + esc(M.m_handoff_baidu) + "</a></p></div>";
}

export function renderGrid(answer, loggedIn) {
  const box = el("m-grid");
  const g = answer.grid;
  if (!g) {
    box.innerHTML = '<div class="card"><h2>' + esc(M.m_my_grid) + '</h2><p class="muted">' + esc(M.m_no_grid) + "</p></div>";
    return;
  }
  let html = '<div class="card grid"><h2>' + esc(M.m_my_grid) + '</h2><p class="grid-name"><b>' +
    esc(g.name || g.grid_code) + '</b> <small id="m-grid-code">' + esc(g.grid_code) + "</small></p><table>" +
    (g.households !== undefined && g.households !== null
      ? '<tr><th>' + esc(M.m_grid_households) + '</th><td id="m-grid-households">' + esc(number(g.households)) + "</td></tr>" : "") +
    (g.buildings ? row(M.m_grid_buildings, number(g.buildings)) : "") + "</table>";
  if (g.staff) {
    html += "<h3>" + esc(M.m_staff) + '</h3><ul class="people">' + g.staff.map(person).join("") + "</ul>";
  } else if (!loggedIn) {
    html += '<p class="muted">' + esc(M.m_contacts_login) + "</p>";
  }
  if (g.building) {
    const b = g.building;
    html += "<h3>" + esc(M.m_building) + " · " + esc(b.name || b.building_id) + "</h3>";
    if (b.leaders && b.leaders.length) html += '<ul class="people">' + b.leaders.map(person).join("") + "</ul>";
  }
  box.innerHTML = html + "</div>";
}

export function renderResults(hits, onPick) {
  const list = el("m-results");
  if (!hits) { list.hidden = true; list.innerHTML = ""; return; }
  list.innerHTML = hits.length ? hits.map(function (hit, i) {
    return '<li><button type="button" data-i="' + i + '">' + esc(hit.label) + " <small>" + esc(hitLayer(hit)) +
      "</small></button></li>";
  }).join("") : '<li class="muted">' + esc(M.search_none) + "</li>";
  list.hidden = false;
  list.querySelectorAll("button").forEach(function (b) {
    b.addEventListener("click", function () { onPick(hits[Number(b.dataset.i)]); });
  });
}
