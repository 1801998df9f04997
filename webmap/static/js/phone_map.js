// The phone view's map: only the viewport's roads, buildings, grids and stations, simplified
// for the zoom and with the few attributes they are drawn by; the walk to the nearest station
// drawn over them. Boxes are snapped to a coarse grid so that a view seen before asks for the
// same URLs again, which the service worker can answer without a connection.
import { featuresUrl } from "./api.js";
import { cfg } from "./config.js";

// Boxes are widened to multiples of this many degrees (about 500 m).
const STEP = 0.005;
// Buildings and roads are drawn from these zooms on.
const MIN_ZOOM = { buildings: 16, roads: 14 };
const MAJOR = new Set(["motorway", "trunk", "primary", "secondary", "tertiary",
  "motorway_link", "trunk_link", "primary_link", "secondary_link"]);
const PATHS = new Set(["footway", "path", "steps", "pedestrian", "cycleway", "track"]);
const ORDER = ["buildings", "roads", "grids", "stations"];
const VIEW_KEY = "planner-m:view";

export const map = L.map("map", { zoomControl: false, preferCanvas: true, maxZoom: 19, minZoom: 11,
  zoomSnap: 0.5, tap: true });
map.attributionControl.setPrefix(false);
// Zoom buttons top right, clear of the bottom sheet and of any pop-up title.
L.control.zoom({ position: "topright" }).addTo(map);
L.control.scale({ imperial: false, position: "topleft" }).addTo(map);

const canvas = L.canvas({ tolerance: 6 });
const groups = {};
const loadedUrls = {};
const controllers = {};

function style(name, f) {
  const p = f.properties || {};
  if (name === "roads") {
    if (MAJOR.has(p.highway)) return { color: "#f3c35b", weight: 5, opacity: 0.95 };
    if (PATHS.has(p.highway)) return { color: "#8d8d8d", weight: 1.4, dashArray: "3 3" };
    return { color: "#ffffff", weight: 3, opacity: 1 };
  }
  if (name === "buildings") return { color: "#a1887f", weight: 0.6, fillColor: "#d7ccc8", fillOpacity: 0.9 };
  if (name === "grids") return { color: "#6a1b9a", weight: 2, dashArray: "6 4", fill: false };
  return {};
}

function stationMarker(f, ll) {
  const planned = f.properties.status && f.properties.status !== "existing";
  return L.circleMarker(ll, { renderer: canvas, radius: 9, weight: 3, color: "#b71c1c",
    dashArray: planned ? "4 3" : null, fillColor: planned ? "#ffffff" : "#e53935", fillOpacity: 1,
    interactive: false });
}

Object.keys(cfg.layers).forEach(function (name) {
  groups[name] = L.geoJSON(null, {
    renderer: canvas,
    interactive: false,
    style: function (f) { return style(name, f); },
    pointToLayer: stationMarker,
    onEachFeature: name !== "grids" ? null : function (f, layer) {
      const p = f.properties;
      layer.bindTooltip(String(p.name || p.grid_code), { permanent: true, direction: "center",
        className: "m-grid-label", interactive: false });
    },
  });
});

// The walk: a white casing under a blue line, the start and the station.
const walkLayer = L.layerGroup().addTo(map);

// The view's box, widened to the snapping grid.
function snappedBox() {
  const b = map.getBounds();
  const r = function (v, f) { return (f(v / STEP) * STEP).toFixed(3); };
  return [r(b.getWest(), Math.floor), r(b.getSouth(), Math.floor), r(b.getEast(), Math.ceil),
    r(b.getNorth(), Math.ceil)].join(",");
}

function wanted(name) {
  return !MIN_ZOOM[name] || map.getZoom() >= MIN_ZOOM[name];
}

function load(name, onData) {
  const group = groups[name];
  if (!wanted(name)) {
    if (map.hasLayer(group)) map.removeLayer(group);
    return Promise.resolve();
  }
  if (!map.hasLayer(group)) group.addTo(map);
  const params = { bbox: snappedBox(), zoom: Math.floor(map.getZoom()),
    properties: cfg.layers[name].join(",") };
  const u = featuresUrl(name, params);
  if (loadedUrls[name] === u) return Promise.resolve();
  if (controllers[name]) controllers[name].abort();
  const controller = new AbortController();
  controllers[name] = controller;
  return fetch(u, { credentials: "same-origin", signal: controller.signal }).then(function (r) {
    if (!r.ok) throw new Error(r.statusText);
    if (r.headers.get("X-Planner-Offline")) onData("offline");
    return r.json();
  }).then(function (fc) {
    group.clearLayers();
    group.addData(fc);
    loadedUrls[name] = u;
    onData("loaded", u);
  }).catch(function (err) {
    if (err.name !== "AbortError") onData("failed", u);
  });
}

let loading = 0;

// Load every layer for the view; onData(kind, url) hears of each answer; the body's
// data-ready is "1" once the view's last layer is drawn.
export function refresh(onData) {
  loading++;
  document.body.dataset.ready = "0";
  return Promise.all(ORDER.filter(function (n) { return groups[n]; }).map(function (n) {
    return load(n, onData);
  })).then(function () {
    loading--;
    if (loading) return;
    ORDER.forEach(function (n) {
      if (groups[n] && map.hasLayer(groups[n])) groups[n].eachLayer(function (l) { if (l.bringToFront) l.bringToFront(); });
    });
    walkLayer.eachLayer(function (l) { if (l.bringToFront) l.bringToFront(); });
    saveView();
    document.body.dataset.ready = "1";
  });
}

export function currentUrls() {
  return Object.keys(loadedUrls).filter(function (n) { return wanted(n); }).map(function (n) { return loadedUrls[n]; });
}

function saveView() {
  const c = map.getCenter();
  try {
    localStorage.setItem(VIEW_KEY, JSON.stringify({ lat: c.lat, lng: c.lng, zoom: map.getZoom() }));
  } catch (e) { /* private mode: no memory of the view */ }
}

// The last view seen (kept between visits and for use offline), else the store's bounds.
export function startView() {
  let last = null;
  try { last = JSON.parse(localStorage.getItem(VIEW_KEY) || "null"); } catch (e) { last = null; }
  if (last && isFinite(last.lat) && isFinite(last.lng) && isFinite(last.zoom)) {
    map.setView([last.lat, last.lng], last.zoom, { animate: false });
    return;
  }
  const b = cfg.bounds;
  if (b) map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { animate: false });
  else map.setView([35, 105], 4);
}

// Draw a walk (the /api/nearby station part) from the start point; fit it above the sheet
// unless sheetHeight is null (a walk shown again in the view it was left in).
export function drawWalk(start, station, sheetHeight) {
  walkLayer.clearLayers();
  L.circleMarker(start, { renderer: canvas, radius: 8, color: "#ffffff", weight: 3,
    fillColor: "#1565c0", fillOpacity: 1, interactive: false }).addTo(walkLayer);
  if (!station) return;
  const route = L.geoJSON(station.route, { renderer: canvas, interactive: false });
  const coords = route.getLayers()[0].getLatLngs();
  L.polyline(coords, { renderer: canvas, color: "#ffffff", weight: 9, opacity: 0.9,
    interactive: false }).addTo(walkLayer);
  L.polyline(coords, { renderer: canvas, color: "#1565c0", weight: 5, opacity: 1,
    interactive: false, className: "m-route" }).addTo(walkLayer);
  stationMarker({ properties: station }, [station.lat, station.lon]).addTo(walkLayer);
  if (sheetHeight === null) return;
  const bounds = L.latLngBounds(coords).extend(start);
  map.fitBounds(bounds, { paddingTopLeft: [24, 24], paddingBottomRight: [68, sheetHeight + 24],
    maxZoom: 18, animate: false });
}

// For tests and the console: features drawn per layer.
export function drawn() {
  const out = {};
  Object.keys(groups).forEach(function (n) { out[n] = map.hasLayer(groups[n]) ? groups[n].getLayers().length : 0; });
  return out;
}

// For tests and the console: how many points the drawn route has.
export function routePoints() {
  let n = 0;
  walkLayer.eachLayer(function (l) { if (l.getLatLngs) n = Math.max(n, l.getLatLngs().length); });
  return n;
}
