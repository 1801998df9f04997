// The phone view (/m): a full-height map and a bottom sheet. Locate me (browser geolocation, in
// a secure context) or tap the map: the nearest station on foot, the walk drawn and timed, and
// the grid there with its contacts. A service worker keeps the page and the last area seen for
// use without a connection; logging out clears what it kept.
import { getJSON } from "./api.js";
import { cfg } from "./config.js";
import { el } from "./dom.js";
import { M } from "./i18n.js";
import { currentUrls, drawWalk, drawn, map, refresh, routePoints, startView } from "./phone_map.js";
import { initSheet, note, renderGrid, renderResults, renderStation, setCollapsed,
  sheetHeight } from "./phone_sheet.js";

const NEARBY_KEY = "planner-m:nearby";
const CACHE_PREFIX = "planner-m";
let offline = !navigator.onLine;

function onData(kind, u) {
  if (kind === "offline") offline = true;
  // Answers fetched before the worker took the page over: ask it to keep them too.
  if (kind === "loaded" && u && navigator.serviceWorker && !navigator.serviceWorker.controller) keep([u]);
}

function redraw() {
  return refresh(onData).then(function () {
    // Time to the first map, from the start of the navigation (for the tests' report).
    if (!document.body.dataset.firstMapMs) document.body.dataset.firstMapMs = String(Math.round(performance.now()));
    if (offline || !navigator.onLine) note(M.m_offline);
  });
}

function show(answer, start) {
  renderStation(answer);
  renderGrid(answer, !!cfg.user);
  setCollapsed(false);
  drawWalk(start, answer.station, sheetHeight());
}

function nearby(lat, lng) {
  note(M.loading);
  const u = cfg.urls.nearby + "?lon=" + lng.toFixed(6) + "&lat=" + lat.toFixed(6);
  return getJSON(u).then(function (answer) {
    note(answer.station_error || "");
    show(answer, [lat, lng]);
    try { localStorage.setItem(NEARBY_KEY, JSON.stringify(answer)); } catch (e) { /* no room: not kept */ }
  }).catch(function (err) {
    // Without a connection the last answer stays on the sheet.
    note(navigator.onLine ? M.error + ": " + err.message : M.m_offline);
  });
}

// -- locate me ---------------------------------------------------------------------------

function initLocate() {
  const button = el("locate");
  // Browsers give a position only to a secure page (HTTPS, or this machine).
  if (!window.isSecureContext || !navigator.geolocation) {
    button.disabled = true;
    note(M.m_locate_off_http);
    return;
  }
  button.addEventListener("click", function () {
    note(M.m_locating);
    navigator.geolocation.getCurrentPosition(function (pos) {
      nearby(pos.coords.latitude, pos.coords.longitude);
    }, function (err) {
      note(M.m_locate_failed.split("{reason}").join(err.message || String(err.code)));
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 });
  });
}

// -- search ------------------------------------------------------------------------------

function initSearch() {
  el("m-search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const q = el("m-search-input").value.trim();
    if (!q) { renderResults(null); return; }
    getJSON(cfg.urls.search + "?q=" + encodeURIComponent(q)).then(function (answer) {
      renderResults(answer.results, function (hit) {
        renderResults(null);
        const b = hit.bbox;
        const centre = [(b[1] + b[3]) / 2, (b[0] + b[2]) / 2];
        map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 17, animate: false });
        nearby(centre[0], centre[1]);
      });
      setCollapsed(false);
    }).catch(function (err) { note(M.error + ": " + err.message); });
  });
}

// -- offline: the service worker and what it keeps ----------------------------------------

function keep(urls) {
  if (!navigator.serviceWorker) return;
  navigator.serviceWorker.ready.then(function (reg) {
    if (reg.active) reg.active.postMessage({ type: "keep", urls: urls });
  });
}

function initWorker() {
  if (!window.isSecureContext || !navigator.serviceWorker) return;
  navigator.serviceWorker.register(cfg.urls.worker, { scope: cfg.urls.scope }).then(function () {
    return navigator.serviceWorker.ready;
  }).then(function (reg) {
    if (reg.active) reg.active.postMessage({ type: "keep", urls: cfg.shell.concat(currentUrls()) });
  }).catch(function () { /* no worker: the page works online only */ });
}

// Everything this phone kept of the store: the worker's caches, the remembered view and answer.
function forget() {
  const jobs = [];
  try {
    Object.keys(localStorage).forEach(function (k) { if (k.indexOf(CACHE_PREFIX + ":") === 0) localStorage.removeItem(k); });
  } catch (e) { /* no storage */ }
  if (window.caches) {
    jobs.push(caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n.indexOf(CACHE_PREFIX) === 0; })
        .map(function (n) { return caches.delete(n); }));
    }));
  }
  if (navigator.serviceWorker) {
    jobs.push(navigator.serviceWorker.getRegistrations().then(function (regs) {
      return Promise.all(regs.map(function (r) { return r.unregister(); }));
    }));
  }
  return Promise.all(jobs).catch(function () {});
}

function initLogout() {
  const button = el("m-logout");
  if (!button) return;
  button.addEventListener("click", function () {
    const done = function () {
      forget().then(function () {
        document.body.dataset.cleared = "1";
        note(M.m_cleared);
        window.location.assign(cfg.urls.login);
      });
    };
    getJSON(cfg.urls.logout, { method: "POST" }).then(done, done);
  });
}

// -- start -----------------------------------------------------------------------------------

initSheet();
initLocate();
initSearch();
initLogout();
startView();
map.on("moveend", redraw);
map.on("click", function (e) { nearby(e.latlng.lat, e.latlng.lng); });
window.addEventListener("offline", function () { offline = true; note(M.m_offline); });
window.addEventListener("online", function () { offline = false; note(""); });
redraw().then(function () {
  // The last answer, shown again (and offline, the only one there is).
  let last = null;
  try { last = JSON.parse(localStorage.getItem(NEARBY_KEY) || "null"); } catch (e) { last = null; }
  if (last && last.lon !== undefined) {
    renderStation(last);
    renderGrid(last, !!cfg.user);
    drawWalk([last.lat, last.lon], last.station, null);
  }
  initWorker();
});
if (!cfg.user && window.isSecureContext) note(M.m_tap_hint);

// For tests and the console.
window.plannerPhone = { map: map, drawn: drawn, routePoints: routePoints, nearby: nearby, forget: forget };
