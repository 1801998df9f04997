// The dashboard's map: grids outlined, buildings coloured by walking band for the station set
// shown (beyond the threshold in red), the counted stations, and zooming to what a row names.
import { featuresUrl, getJSON } from "../api.js";
import { cfg } from "../config.js";
import { esc } from "../dom.js";
import { M } from "../i18n.js";

// Bands in order: within the threshold (greens), beyond it (red), no station reachable (dark red).
export const BAND_COLOURS = ["#1a9850", "#91cf60", "#d9ef8b", "#e31a1c", "#99000d"];

export const map = L.map("dash-map", { preferCanvas: true, maxZoom: 20, minZoom: 3, zoomSnap: 0.25 });
map.attributionControl.setPrefix(false);
L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
const canvas = L.canvas({ tolerance: 3 });

const index = { grids: {}, zones: {} };
let buildings = null;
let bandOf = {};
const stations = L.layerGroup().addTo(map);
const highlight = L.layerGroup().addTo(map);

function colourOf(band) { return BAND_COLOURS[Math.min(band, BAND_COLOURS.length - 1)]; }

function buildingStyle(f) {
  const band = bandOf[f.properties.building_id];
  if (band === undefined) return { renderer: canvas, weight: 0.5, color: "#999", fillColor: "#ccc", fillOpacity: 0.4 };
  const beyond = band >= 3;
  return { renderer: canvas, weight: beyond ? 1.2 : 0.4, color: beyond ? "#7f0000" : "#555",
    fillColor: colourOf(band), fillOpacity: 0.85 };
}

// Features per request: the most the API sends at once (its API_MAX_LIMIT).
const PAGE = cfg.page_limit;

// Every feature of a layer, page after page.
function features(name, properties, offset, gathered) {
  offset = offset || 0;
  return getJSON(featuresUrl(name, { limit: PAGE, offset: offset, zoom: 17, properties: properties })).then(function (fc) {
    const all = (gathered || []).concat(fc.features);
    if (fc.numberReturned === PAGE && all.length < fc.numberMatched) return features(name, properties, offset + PAGE, all);
    return { type: "FeatureCollection", features: all };
  });
}

// Grids, zones and buildings of the whole store, once; resolves with the community's extent.
export function loadBase() {
  return Promise.all([
    features("grids", "grid_code,name,households"),
    features("zones", "zone_code,name").catch(function () { return { features: [] }; }),
    features("buildings", "building_id"),
  ]).then(function (parts) {
    const grids = L.geoJSON(parts[0], {
      style: { renderer: canvas, color: "#37474f", weight: 1.2, fill: false, interactive: false },
      onEachFeature: function (f, layer) { index.grids[f.properties.grid_code] = layer; },
    });
    L.geoJSON(parts[1], { onEachFeature: function (f, layer) { index.zones[f.properties.zone_code] = layer; } });
    buildings = L.geoJSON(parts[2], {
      style: buildingStyle,
      onEachFeature: function (f, layer) {
        layer.bindTooltip(function () {
          const b = bandOf[f.properties.building_id];
          return esc(f.properties.building_id) + (b === undefined ? "" : " · " + esc(bandName(b)));
        });
      },
    }).addTo(map);
    grids.addTo(map);
    const bounds = grids.getBounds().isValid() ? grids.getBounds() : buildings.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
    else map.setView([35, 105], 4);
  });
}

let bandNames = [];
export function bandName(i) { return bandNames[i] || ""; }

// Colour the buildings by the bands of `view` (a coverage view of /api/dashboard), draw its stations.
export function showCoverage(view, names) {
  bandNames = names;
  bandOf = {};
  const ids = view.building_band.ids, band = view.building_band.band;
  for (let i = 0; i < ids.length; i++) bandOf[ids[i]] = band[i];
  if (buildings) buildings.setStyle(buildingStyle);
  stations.clearLayers();
  view.stations.forEach(function (s) {
    if (s.lon === null || s.lat === null) return;
    const proposed = s.status && s.status !== "existing";
    const icon = L.divIcon({ className: "", iconSize: [22, 22],
      html: '<div class="station-dot' + (proposed ? " proposed" : "") + '">' +
        esc(proposed ? M.icon_proposed : M.icon_existing) + "</div>" });
    L.marker([s.lat, s.lon], { icon: icon, title: s.name || s.station_id }).addTo(stations);
  });
}

function mark(layer) {
  highlight.clearLayers();
  L.geoJSON(layer.toGeoJSON(), { style: { color: "#ff6f00", weight: 4, fill: false, interactive: false } }).addTo(highlight);
}

// Zoom to a grid or zone by its code; false when the map does not hold it.
export function zoomToFeature(kind, code) {
  const layer = index[kind][code];
  if (!layer) return false;
  map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 18, animate: false });
  mark(layer);
  return true;
}

export function zoomToPoint(lon, lat, zoom) {
  map.setView([lat, lon], zoom || 18, { animate: false });
  highlight.clearLayers();
  L.circleMarker([lat, lon], { radius: 14, color: "#ff6f00", weight: 3, fill: false, interactive: false }).addTo(highlight);
}

export function zoomToBox(b) {
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [30, 30], maxZoom: 18, animate: false });
}
