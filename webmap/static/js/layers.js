// The store's layers on the map: one GeoJSON group per layer (and an outline group where the
// style has one), loaded whole, by viewport or (the big layers of a district) by map tile,
// drawn in order, listed in the side panel.
import { featureUrl, featuresUrl, getJSON, tileUrl } from "./api.js";
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { M, layerName, number } from "./i18n.js";
import { updateLegend } from "./legend.js";
import { canvas, gcj02, map, svg } from "./map.js";
import { popupHtml } from "./popups.js";
import { catalog, state, store } from "./state.js";
import { styleOf } from "./styles.js";
import { loadSummary, renderSummary } from "./summary.js";

// Layers with at most this many features are loaded whole once; larger ones by viewport.
const WHOLE_LAYER_MAX = 800;
const VIEWPORT_LIMIT = 10000;
// Layers with more features than the server's TILED_LAYER_MIN are loaded by map tile: each
// tile made once per layer version on the server and kept here, so a view of a district's
// 100k buildings costs what one of a community's 1k does.
const TILED_MIN = cfg.tiled_layer_min === undefined ? Infinity : cfg.tiled_layer_min;
// Tiles kept per layer (their GeoJSON), the oldest dropped first.
const TILES_KEPT = 300;

function makeGroup(name, outline) {
  const st = styleOf(name);
  const entry = catalog[name];
  const styler = outline ? st.outline : st.style;
  const renderer = st.svg && !outline ? svg : canvas;
  // The group that takes clicks: the feature itself, or (clickOutline) its copy on the canvas.
  const clicks = st.clickOutline ? outline : !outline;
  return L.geoJSON(null, {
    renderer: renderer,
    pane: st.svg && !outline ? "hatched" : "overlayPane",
    interactive: clicks && st.interactive !== false,
    style: function (f) { return styler ? styler(f, entry) : {}; },
    pointToLayer: function (f, ll) {
      return st.point ? st.point(f, ll) : L.circleMarker(ll, { radius: 4, renderer: canvas });
    },
    onEachFeature: !clicks ? null : function (f, layer) {
      if (st.interactive === false) return;
      if (f.properties && f.properties.cell !== undefined) {
        // A cell of a generalised tile: features merged where too dense to draw one by one.
        layer.bindPopup(esc(M.tile_cell.replace("{n}", number(f.properties.cell))));
        return;
      }
      if (!state[name] || !state[name].partial) {
        layer.bindPopup(function () { return popupHtml(name, f); }, { maxWidth: 360 });
      } else {
        // Loaded with a few attributes only: fetch the whole feature when opened.
        layer.bindPopup(esc(M.loading), { maxWidth: 360 });
        layer.on("popupopen", function (e) {
          getJSON(featureUrl(name, f.id)).then(function (full) {
            e.popup.setContent(popupHtml(name, full));
          }).catch(function (err) { e.popup.setContent(esc(M.error + ": " + err.message)); });
        });
      }
      if (!outline && st.labels && f.properties && f.properties.grid_code) {
        layer.bindTooltip(gridLabel(f.properties), { permanent: true, direction: "center",
          className: "grid-label", interactive: false });
      }
    },
  });
}

function drawOrder() {
  const groups = [];
  Object.keys(state).forEach(function (n) {
    const st = styleOf(n);
    groups.push([st.order, state[n].group]);
    if (state[n].outline) groups.push([st.outlineOrder || st.order, state[n].outline]);
  });
  groups.sort(function (a, b) { return a[0] - b[0]; });
  groups.forEach(function (g) {
    g[1].eachLayer(function (l) { if (l.bringToFront && l._renderer === canvas) l.bringToFront(); });
  });
}

// Hide grid labels that would overlap a label already shown (larger grids first).
function declutter() {
  const shown = [];
  const labels = Array.prototype.slice.call(document.querySelectorAll(".grid-label"));
  labels.forEach(function (lab) { lab.style.visibility = ""; });
  labels.map(function (lab) { return [lab, lab.getBoundingClientRect()]; })
    .forEach(function (pair) {
      const r = pair[1];
      const clash = shown.some(function (o) {
        return r.left < o.right + 2 && r.right > o.left - 2 && r.top < o.bottom + 2 && r.bottom > o.top - 2;
      });
      if (clash) pair[0].style.visibility = "hidden";
      else shown.push(r);
    });
}

// A grid's label: its code without the community's prefix, and its households.
function gridLabel(p) {
  const code = String(p.grid_code);
  const prefix = String(store.info.community_code || "");
  const short = prefix && code.indexOf(prefix) === 0 && code.length > prefix.length ? code.slice(prefix.length) : code;
  const hh = p.households ? "<small>" + number(p.households) + " " + M.households_short + "</small>" : "";
  return esc(short) + hh;
}

function wanted(name) {
  const s = state[name];
  const st = styleOf(name);
  return s.visible && catalog[name].count > 0 && (!st.minZoom || map.getZoom() >= st.minZoom);
}

function load(name) {
  const s = state[name];
  const st = styleOf(name);
  const entry = catalog[name];
  if (!wanted(name)) {
    if (map.hasLayer(s.group)) map.removeLayer(s.group);
    if (s.outline && map.hasLayer(s.outline)) map.removeLayer(s.outline);
    return Promise.resolve();
  }
  if (!map.hasLayer(s.group)) s.group.addTo(map);
  if (s.outline && !map.hasLayer(s.outline)) s.outline.addTo(map);
  const whole = entry.count <= WHOLE_LAYER_MAX;
  if (whole && s.loadedWhole) return Promise.resolve();
  if (!whole && entry.count > TILED_MIN) return loadTiles(name);
  const params = { limit: VIEWPORT_LIMIT };
  if (!whole) {
    const b = map.getBounds().pad(0.25);
    params.bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) {
      return v.toFixed(6);
    }).join(",");
    params.zoom = map.getZoom();
    if (st.fields) params.properties = st.fields.join(",");
  }
  s.partial = !!params.properties;
  if (gcj02) params.crs = "gcj02";
  if (s.controller) s.controller.abort();
  const controller = new AbortController();
  s.controller = controller;
  s.pending = true;
  return getJSON(featuresUrl(name, params), { signal: controller.signal }).then(function (fc) {
    s.group.clearLayers();
    s.group.addData(fc);
    if (s.outline) { s.outline.clearLayers(); s.outline.addData(fc); }
    s.loadedWhole = whole;
    s.truncated = fc.numberMatched > fc.numberReturned;
    s.drawn = fc.numberReturned;
    s.pending = false;
    s.loads = (s.loads || 0) + 1;
    updateLayerList();
  }).catch(function (err) {
    if (err.name === "AbortError") return;
    s.pending = false;
    showStatus(M.error + ": " + err.message);
  });
}

// The zoom of the tiles drawn: they are 512 px wide, one zoom below the map's.
function tileZoom() {
  return Math.max(0, Math.min(17, Math.floor(map.getZoom()) - 1));
}

// [x, y] of the tiles of zoom z over the view (and a margin around it).
function tilesInView(z) {
  const b = map.getBounds().pad(0.1);
  const n = Math.pow(2, z);
  function clamp(v) { return Math.max(0, Math.min(n - 1, v)); }
  function tx(lon) { return clamp(Math.floor((lon + 180) / 360 * n)); }
  function ty(lat) {
    const r = Math.max(-85.05, Math.min(85.05, lat)) * Math.PI / 180;
    return clamp(Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * n));
  }
  const keys = [];
  for (let y = ty(b.getNorth()); y <= ty(b.getSouth()); y++) {
    for (let x = tx(b.getWest()); x <= tx(b.getEast()); x++) keys.push([x, y]);
  }
  return keys;
}

// A big layer by tile: the tiles over the view (those seen before from memory), their
// features drawn once each (a feature crossing tiles comes in each of them).
function loadTiles(name) {
  const s = state[name];
  const st = styleOf(name);
  const z = tileZoom();
  const params = {};
  if (st.fields) params.properties = st.fields.join(",");
  if (gcj02) params.crs = "gcj02";
  s.partial = !!params.properties;
  if (!s.tiles) s.tiles = new Map();
  if (s.controller) s.controller.abort();
  const controller = new AbortController();
  s.controller = controller;
  s.pending = true;
  return Promise.all(tilesInView(z).map(function (k) {
    const u = tileUrl(name, z, k[0], k[1], params);
    if (s.tiles.has(u)) return Promise.resolve(s.tiles.get(u));
    return getJSON(u, { signal: controller.signal }).then(function (fc) {
      s.tiles.set(u, fc);
      if (s.tiles.size > TILES_KEPT) s.tiles.delete(s.tiles.keys().next().value);
      return fc;
    });
  })).then(function (collections) {
    const seen = new Set();
    const features = [];
    collections.forEach(function (fc) {
      fc.features.forEach(function (f) {
        if (!seen.has(f.id)) { seen.add(f.id); features.push(f); }
      });
    });
    const fc = { type: "FeatureCollection", features: features };
    s.group.clearLayers();
    s.group.addData(fc);
    if (s.outline) { s.outline.clearLayers(); s.outline.addData(fc); }
    s.loadedWhole = false;
    s.truncated = collections.some(function (c) { return c.generalised; });
    s.drawn = features.length;
    s.tiled = true;
    s.pending = false;
    s.loads = (s.loads || 0) + 1;
    updateLayerList();
  }).catch(function (err) {
    if (err.name === "AbortError") return;
    s.pending = false;
    showStatus(M.error + ": " + err.message);
  });
}

let loading = 0;

// A pop-up near the map's edge pans the map to fit: that move must not reload the layers,
// which would close the pop-up it was made for.
let popupPan = false;
map.on("autopanstart", function () { popupPan = true; });

// Load every layer for the current view; the page is ready when the last refresh ends.
export function refresh() {
  if (popupPan) {
    popupPan = false;
    return Promise.resolve();
  }
  const names = Object.keys(state);
  loading++;
  document.body.dataset.ready = "0";
  showStatus(M.loading);
  return Promise.all(names.map(load)).then(function () {
    loading--;
    if (loading) return;
    showStatus("");
    const truncated = names.some(function (n) { return state[n].visible && state[n].truncated; });
    if (truncated) showStatus(M.truncated);
    drawOrder();
    declutter();
    // Tests and screenshots wait for this: every visible layer is drawn for this view.
    document.body.dataset.ready = "1";
  });
}

export function updateLayerList() {
  const list = el("layer-list");
  const names = Object.keys(state).sort(function (a, b) { return styleOf(b).order - styleOf(a).order; });
  list.innerHTML = names.map(function (name) {
    const e = catalog[name];
    const st = styleOf(name);
    const hint = st.minZoom && map.getZoom() < st.minZoom ? '<span class="hint">' + esc(M.zoom_in_to_see) + "</span>" : "";
    return '<li class="' + (e.count ? "" : "empty") + '"><label><input type="checkbox" data-layer="' +
      esc(name) + '"' + (state[name].visible ? " checked" : "") + (e.count ? "" : " disabled") + ">" +
      "<span>" + esc(layerName(name)) + "</span>" + hint + '</label><span class="count">' + number(e.count) + "</span></li>";
  }).join("");
  updateLegend();
}

// Show or hide a layer when its box in the layer list is ticked.
export function initLayerList() {
  el("layer-list").addEventListener("change", function (ev) {
    const name = ev.target.dataset.layer;
    if (!name) return;
    state[name].visible = ev.target.checked;
    load(name).then(function () { drawOrder(); declutter(); });
    updateLegend();
  });
}

// Take the layers of an /api/layers answer: new layers get their groups, known ones are emptied.
export function applyCatalog(info) {
  store.info = info;
  const entries = info.layers.filter(function (e) { return e.geometry || e.name === "findings"; });
  entries.forEach(function (e) {
    catalog[e.name] = e;
    if (!state[e.name]) {
      state[e.name] = { visible: styleOf(e.name).visible !== false };
      state[e.name].group = makeGroup(e.name, false);
      if (styleOf(e.name).outline) state[e.name].outline = makeGroup(e.name, true);
    } else {
      state[e.name].loadedWhole = false;
      state[e.name].tiles = null; // the data may have changed: tiles are fetched anew
      state[e.name].group.clearLayers();
      if (state[e.name].outline) state[e.name].outline.clearLayers();
    }
  });
  const attributions = (info.attribution || []).map(esc).join(" · ");
  if (attributions) map.attributionControl.addAttribution(attributions);
  renderSummary();
  updateLayerList();
}

// Read the layers again (after an analysis run): drop those gone, redraw the rest.
export function reloadCatalog() {
  return getJSON(cfg.urls.layers, { cache: "no-cache" }).then(function (info) {
    Object.keys(catalog).forEach(function (n) {
      if (!info.layers.some(function (e) { return e.name === n; })) {
        map.removeLayer(state[n].group);
        if (state[n].outline) map.removeLayer(state[n].outline);
        delete state[n];
        delete catalog[n];
      }
    });
    applyCatalog(info);
    loadSummary();
    return refresh();
  });
}
