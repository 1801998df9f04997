// The map page: draws every layer of the store from the REST API (by viewport, simplified by
// zoom), with a layer switcher, legend, pop-ups in the schema's Chinese names, search and
// analysis runs. Layers unknown to STYLES below still appear, with a generic style.
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("page-config").textContent);
  var M = cfg.messages;
  var LANG = cfg.lang;
  // Layers with at most this many features are loaded whole once; larger ones by viewport.
  var WHOLE_LAYER_MAX = 800;
  var VIEWPORT_LIMIT = 10000;

  // -- styles -----------------------------------------------------------------------------
  var PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
    "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6", "#6a3d9a", "#ff7f00", "#33a02c", "#b15928"];
  var HOUSEHOLD_COLOURS = ["#fff3b0", "#fed976", "#feb24c", "#fd8d3c", "#e8590c"];
  var NO_HOUSEHOLDS = "#d9d9d9";
  var UNCOVERED = "#d6006f";
  var EDGE = "#6a1b9a";

  function hashColour(text) {
    var h = 0;
    text = String(text);
    for (var i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  var BARRIER = {
    wall: { color: "#4e342e", weight: 2.5 },
    fence: { color: "#8d6e63", weight: 1.5, dashArray: "4 3" },
    retaining_wall: { color: "#757575", weight: 2 },
    railway: { color: "#424242", weight: 3, dashArray: "10 6" },
    waterway: { color: "#3d8fd1", weight: 3 },
    water: { color: "#3d8fd1", weight: 2.5 },
  };
  var MAJOR = { motorway: 1, trunk: 1, primary: 1, secondary: 1, motorway_link: 1, trunk_link: 1,
    primary_link: 1, secondary_link: 1 };
  var MEDIUM = { tertiary: 1, tertiary_link: 1, unclassified: 1, residential: 1, living_street: 1 };
  var PATHS = { footway: 1, path: 1, pedestrian: 1, steps: 1, cycleway: 1, track: 1 };

  // order: drawing order (higher on top); visible: shown at start; minZoom: drawn from there.
  var STYLES = {
    community: { order: 10.7, visible: true, interactive: false, style: function () {
      return { color: "#6a1b9a", weight: 3, dashArray: "10 5", fill: false };
    }, legend: function () { return [lineRow("#6a1b9a", layerName("community"), true)]; } },
    zones: { order: 2, visible: true, style: function () {
      // Canvas hit-tests polygons whether filled or not: the clickable part stays at the
      // bottom and the boundary is drawn on top, without events.
      return { stroke: false, fillOpacity: 0 };
    }, outlineOrder: 10.6, outline: function () {
      return { color: "#263238", weight: 4, fill: false, opacity: 0.8 };
    }, legend: function () { return [lineRow("#263238", layerName("zones"))]; } },
    grids: { order: 3, visible: true, labels: true, style: function (f) {
      return { stroke: false, fillColor: hashColour(f.properties.grid_code), fillOpacity: 0.22 };
    }, outlineOrder: 10.5, outline: function (f) {
      // Boundaries drawn above roads and buildings: they are what the planner checks.
      var flagged = f.properties.flag;
      return { color: flagged ? "#c62828" : darker(hashColour(f.properties.grid_code)),
        weight: flagged ? 3 : 2.2, dashArray: flagged ? "6 4" : null, fill: false, opacity: 0.9 };
    }, legend: function () {
      return [boxRow(PALETTE[0], M.grid + " (" + (LANG === "zh" ? "颜色区分，标注编码" : "coloured, labelled by code") + ")"),
        lineRow("#c62828", (LANG === "zh" ? "超出规则的网格" : "grid outside the rules"), true)];
    } },
    scenario_grids: { order: 3.5, visible: false, style: function (f) {
      return { color: hashColour(f.properties.grid_code), weight: 2, dashArray: "8 4", fillOpacity: 0.05 };
    } },
    blocks: { order: 4, visible: false, minZoom: 15, style: function () {
      return { color: "#78909c", weight: 1, fillColor: "#b0bec5", fillOpacity: 0.08 };
    } },
    compounds: { order: 5, visible: true, style: function (f) {
      return { color: "#4f8a4b", weight: 1.2, fillColor: "#cfe8c5", fillOpacity: 0.3 };
    }, legend: function () { return [boxRow("#cfe8c5", layerName("compounds"), "#5d9c59")]; } },
    isochrones: { order: 6, visible: true, style: function (f, entry) {
      // Only the outermost ring (the walking threshold) is filled; inner rings are thin lines.
      var st = entry.stats.minutes;
      var outer = !st || f.properties.minutes >= st.max;
      // Network isochrones follow every street: outlines would draw a second street map.
      return { stroke: false, fillColor: "#29b6f6", fillOpacity: outer ? 0.16 : 0 };
    }, legend: function () { return [boxRow("#b3e5fc", layerName("isochrones"), "#0277bd")]; } },
    edge_areas: { order: 7, visible: true, svg: true, style: function (f) {
      var disputed = f.properties.disputed;
      return { color: disputed ? "#c62828" : EDGE, weight: disputed ? 2 : 1, opacity: disputed ? 0.9 : 0.6,
        fillColor: disputed ? "url(#hatch-disputed)" : "url(#hatch-edge)", fillOpacity: 1 };
    }, legend: function () {
      return [row('<span class="swatch hatch"></span>', M.edge_hatched),
        row('<span class="swatch hatch disputed"></span>', LANG === "zh" ? "有争议的边缘地带" : "disputed edge area")];
    } },
    barriers: { order: 8, visible: true, style: function (f) {
      var s = BARRIER[f.properties.kind] || { color: "#616161", weight: 2 };
      return { color: s.color, weight: s.weight, dashArray: s.dashArray || null, opacity: 0.95 };
    }, legend: function (entry) {
      var kinds = (entry.stats.kind && entry.stats.kind.values) || {};
      var names = { wall: M.wall, fence: M.fence, railway: M.railway, waterway: M.water, water: M.water };
      var seen = {};
      return Object.keys(kinds).filter(function (k) {
        var label = names[k] || k;
        if (seen[label]) return false;
        seen[label] = true;
        return true;
      }).map(function (k) {
        var s = BARRIER[k] || { color: "#616161" };
        return lineRow(s.color, names[k] || k, !!s.dashArray);
      });
    } },
    roads: { order: 9, visible: true, style: function (f) {
      var h = f.properties.highway;
      if (MAJOR[h]) return { color: "#f3c35b", weight: 6, opacity: 0.95 };
      if (MEDIUM[h]) return { color: "#ffffff", weight: 4, opacity: 1 };
      if (PATHS[h]) return { color: "#9e9e9e", weight: 1.2, dashArray: "3 3" };
      return { color: "#ffffff", weight: f.properties.internal ? 2 : 3, opacity: 0.95 };
    }, legend: function () {
      return [lineRow("#f3c35b", LANG === "zh" ? "主次干道" : "main road"),
        lineRow("#ffffff", LANG === "zh" ? "支路、小区道路" : "street, lane"),
        lineRow("#9e9e9e", LANG === "zh" ? "人行道、小径" : "footpath", true)];
    } },
    // fields: the attributes styling needs; large layers load only these and fetch the
    // rest of a feature when it is clicked.
    buildings: { order: 10, visible: true, fields: ["households", "covered"], style: function (f, entry) {
      var p = f.properties;
      var fill = p.households > 0 ? classColour(p.households, householdBreaks(entry)) : NO_HOUSEHOLDS;
      var s = { color: "#6d5a4b", weight: 0.6, fillColor: fill, fillOpacity: 0.9 };
      if (coverageKnown(entry) && p.households > 0 && !p.covered) {
        s.color = UNCOVERED;
        s.weight = 2.5;
      }
      return s;
    }, legend: function (entry) {
      var b = householdBreaks(entry);
      var rows = [];
      var lo = 1;
      for (var i = 0; i < HOUSEHOLD_COLOURS.length; i++) {
        var hi = i < b.length ? b[i] : null;
        var text = hi === null ? "≥ " + lo : lo + "–" + hi;
        rows.push(boxRow(HOUSEHOLD_COLOURS[i], M.households + " " + text));
        if (hi === null) break;
        lo = hi + 1;
      }
      rows.push(boxRow(NO_HOUSEHOLDS, M.no_households));
      if (coverageKnown(entry)) rows.push(boxRow("#fff", M.uncovered, UNCOVERED, 2));
      return rows;
    } },
    walk_edges: { order: 11, visible: false, minZoom: 16, fields: ["kind"], style: function (f) {
      return { color: f.properties.kind === "gate" ? "#ff7043" : "#78909c", weight: 1, opacity: 0.8 };
    } },
    walk_nodes: { order: 11.5, visible: false, minZoom: 17, fields: ["kind"], point: function (f, ll) {
      return L.circleMarker(ll, { renderer: canvas, radius: 2, color: "#546e7a", weight: 1, fillOpacity: 1 });
    } },
    gates: { order: 12, visible: true, point: function (f, ll) {
      var closed = f.properties.access === "no" || f.properties.access === "private";
      return L.circleMarker(ll, { renderer: canvas, radius: 4.5, color: "#fff", weight: 1.5,
        fillColor: closed ? "#8d8d8d" : "#ff6d00", fillOpacity: 1 });
    }, legend: function () {
      return [dotRow("#ff6d00", M.gate), dotRow("#8d8d8d", M.gate + (LANG === "zh" ? "（不开放）" : " (closed)"))];
    } },
    candidate_sites: { order: 13, visible: true, point: function (f, ll) {
      return L.circleMarker(ll, { renderer: canvas, radius: f.properties.generated ? 3.5 : 5, color: "#6a1b9a",
        weight: 1.5, fillColor: "#fff", fillOpacity: 1 });
    }, legend: function () { return [dotRow("#fff", M.candidate, "#6a1b9a")]; } },
    stations: { order: 14, visible: true, point: function (f, ll) {
      var status = f.properties.status || "existing";
      var text = status === "existing" ? "站" : status === "proposed" ? "新" : "规";
      return L.marker(ll, { icon: L.divIcon({ className: "", iconSize: [26, 26],
        html: '<div class="station-icon ' + esc(status) + '">' + text + "</div>" }),
        riseOnHover: true, keyboard: false });
    }, legend: function () {
      return [row('<span class="station-icon existing">站</span>', M.station + "（" + M.existing + "）"),
        row('<span class="station-icon proposed">新</span>', M.station + "（" + M.proposed + "）")];
    } },
    findings: { order: 15, visible: true, style: function () {
      // Unfilled, so the features under a problem area stay clickable.
      return { color: "#d50000", weight: 3, dashArray: "8 5", fill: false, opacity: 0.9 };
    }, legend: function () {
      return [lineRow("#d50000", LANG === "zh" ? "拓扑问题（点击线条查看）" : "problem (click its line)", true)];
    }, point: function (f, ll) {
      return L.circleMarker(ll, { renderer: canvas, radius: 7, color: "#c62828", weight: 2, fillColor: "#ef5350", fillOpacity: 0.6 });
    } },
  };

  function darker(hex) {
    var n = parseInt(hex.slice(1), 16);
    var f = function (v) { return Math.round(v * 0.7); };
    var r = f(n >> 16), g = f((n >> 8) & 255), b = f(n & 255);
    return "#" + ((1 << 24) + (r << 16) + (g << 8) + b).toString(16).slice(1);
  }

  function genericStyle(name) {
    var c = hashColour(name);
    return { order: 20, visible: true, style: function () {
      return { color: c, weight: 1.5, fillColor: c, fillOpacity: 0.2 };
    }, point: function (f, ll) {
      return L.circleMarker(ll, { renderer: canvas, radius: 4, color: c, weight: 1, fillColor: c, fillOpacity: 0.8 });
    } };
  }

  function householdBreaks(entry) {
    var st = entry && entry.stats && entry.stats.households;
    if (!st || !st.breaks) return [10, 30, 60, 100];
    var out = [];
    st.breaks.forEach(function (b) {
      b = Math.max(1, Math.round(b));
      if (!out.length || b > out[out.length - 1]) out.push(b);
    });
    return out;
  }

  function classColour(value, breaks) {
    for (var i = 0; i < breaks.length; i++) if (value <= breaks[i]) return HOUSEHOLD_COLOURS[i];
    return HOUSEHOLD_COLOURS[Math.min(breaks.length, HOUSEHOLD_COLOURS.length - 1)];
  }

  function coverageKnown(entry) {
    var s = entry && entry.stats;
    if (!s) return false;
    var walk = s.walk_m && s.walk_m.filled > 0;
    var covered = s.covered && s.covered.values && s.covered.values.True > 0;
    return !!(walk || covered);
  }

  // -- small helpers ------------------------------------------------------------------------
  function esc(v) {
    return String(v).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function el(id) { return document.getElementById(id); }
  function row(swatch, label) {
    return '<div class="row">' + swatch + "<span>" + esc(label) + "</span></div>";
  }
  function boxRow(fill, label, stroke, width) {
    var border = stroke ? "border:" + (width || 1) + "px solid " + stroke + ";" : "";
    return row('<span class="swatch" style="background:' + fill + ";" + border + '"></span>', label);
  }
  function lineRow(colour, label, dashed) {
    var extra = colour === "#ffffff" ? ";box-shadow:0 0 0 1px #b0b0b0" : "";
    return row('<span class="swatch line' + (dashed ? " dash" : "") + '" style="border-color:' +
      colour + extra + '"></span>', label);
  }
  function dotRow(fill, label, stroke) {
    return row('<span class="swatch dot" style="background:' + fill + ";border-color:" +
      (stroke || "#fff") + ';border-width:2px"></span>', label);
  }
  function number(v) {
    return typeof v === "number" ? v.toLocaleString(LANG === "zh" ? "zh-CN" : "en") : v;
  }
  function layerName(name) {
    var e = catalog[name];
    if (!e) return name;
    return LANG === "zh" ? e.zh : name.replace(/_/g, " ");
  }
  function fieldLabel(f) { return LANG === "zh" ? f.zh : f.name.replace(/_/g, " "); }
  function url(template, parts) {
    var u = template;
    Object.keys(parts).forEach(function (k) { u = u.replace(k, encodeURIComponent(parts[k])); });
    return u;
  }
  function showStatus(text) {
    var s = el("status");
    if (!text) { s.hidden = true; return; }
    s.textContent = text;
    s.hidden = false;
  }
  function getJSON(u, options) {
    return fetch(u, options).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
        return body;
      });
    });
  }

  // Leaflet's canvas hit-tests a polygon's inside even when it is not filled; an outline-only
  // polygon must only catch clicks on its line, or it hides every feature below it.
  var polygonContains = L.Polygon.prototype._containsPoint;
  L.Polygon.include({
    _containsPoint: function (p) {
      if (this.options.fill) return polygonContains.call(this, p);
      return L.Polyline.prototype._containsPoint.call(this, p, true);
    },
  });

  // -- the map --------------------------------------------------------------------------------
  var map = L.map("map", { zoomControl: true, preferCanvas: true, maxZoom: 20, minZoom: 3,
    zoomSnap: 0.25, zoomDelta: 0.5, wheelPxPerZoomLevel: 120 });
  map.attributionControl.setPrefix(false);
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  var basemap = cfg.basemap;
  var gcj02 = !!(basemap && basemap.gcj02);
  if (basemap) {
    L.tileLayer(basemap.url, { attribution: esc(basemap.attribution || ""), maxZoom: basemap.maxZoom || 19,
      subdomains: basemap.subdomains || "abc" }).addTo(map);
  }

  var catalog = {};      // layer name → entry of /api/layers
  var state = {};        // layer name → {group, visible, controller, loadedWhole, truncated}
  var highlight = L.layerGroup().addTo(map);
  var HATCH_NS = "http://www.w3.org/2000/svg";

  function styleOf(name) { return STYLES[name] || genericStyle(name); }

  function addHatch(svg, id, colour) {
    if (svg.querySelector("#" + id)) return;
    var defs = svg.querySelector("defs");
    if (!defs) { defs = document.createElementNS(HATCH_NS, "defs"); svg.insertBefore(defs, svg.firstChild); }
    var p = document.createElementNS(HATCH_NS, "pattern");
    p.setAttribute("id", id);
    p.setAttribute("patternUnits", "userSpaceOnUse");
    p.setAttribute("width", "8");
    p.setAttribute("height", "8");
    p.setAttribute("patternTransform", "rotate(45)");
    var bg = document.createElementNS(HATCH_NS, "rect");
    bg.setAttribute("width", "8"); bg.setAttribute("height", "8");
    bg.setAttribute("fill", colour); bg.setAttribute("fill-opacity", "0.05");
    var line = document.createElementNS(HATCH_NS, "line");
    line.setAttribute("x1", "0"); line.setAttribute("y1", "0");
    line.setAttribute("x2", "0"); line.setAttribute("y2", "8");
    line.setAttribute("stroke", colour); line.setAttribute("stroke-width", "1.3");
    line.setAttribute("stroke-opacity", "0.6");
    p.appendChild(bg); p.appendChild(line);
    defs.appendChild(p);
  }

  // One canvas for every vector layer (a canvas above another would swallow its clicks);
  // drawing order is restored with bringToFront after each load. Hatched layers use SVG.
  var canvas = L.canvas({ tolerance: 3 });
  var svgPane = map.createPane("hatched");
  svgPane.style.zIndex = "450";
  var svg = L.svg({ pane: "hatched" }).addTo(map);
  // Hatch patterns referenced by fillColor "url(#…)" (SVG renderer only); the renderer's
  // element exists once the map has a view.
  map.whenReady(function () {
    addHatch(svg._container, "hatch-edge", EDGE);
    addHatch(svg._container, "hatch-disputed", "#c62828");
  });

  function makeGroup(name, outline) {
    var st = styleOf(name);
    var entry = catalog[name];
    var styler = outline ? st.outline : st.style;
    var renderer = st.svg && !outline ? svg : canvas;
    var group = L.geoJSON(null, {
      renderer: renderer,
      pane: st.svg && !outline ? "hatched" : "overlayPane",
      interactive: !outline && st.interactive !== false,
      style: function (f) { return styler ? styler(f, entry) : {}; },
      pointToLayer: function (f, ll) {
        return st.point ? st.point(f, ll) : L.circleMarker(ll, { radius: 4, renderer: canvas });
      },
      onEachFeature: outline ? null : function (f, layer) {
        if (st.interactive === false) return;
        if (!state[name] || !state[name].partial) {
          layer.bindPopup(function () { return popupHtml(name, f); }, { maxWidth: 360 });
        } else {
          // Loaded with a few attributes only: fetch the whole feature when opened.
          layer.bindPopup(esc(M.loading), { maxWidth: 360 });
          layer.on("popupopen", function (e) {
            getJSON(url(cfg.urls.feature, { "__layer__": name, "__id__": f.id })).then(function (full) {
              e.popup.setContent(popupHtml(name, full));
            }).catch(function (err) { e.popup.setContent(esc(M.error + ": " + err.message)); });
          });
        }
        if (st.labels && f.properties && f.properties.grid_code) {
          layer.bindTooltip(gridLabel(f.properties), { permanent: true, direction: "center",
            className: "grid-label", interactive: false });
        }
      },
    });
    return group;
  }

  function drawOrder() {
    var groups = [];
    Object.keys(state).forEach(function (n) {
      var st = styleOf(n);
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
    var shown = [];
    var labels = Array.prototype.slice.call(document.querySelectorAll(".grid-label"));
    labels.forEach(function (lab) { lab.style.visibility = ""; });
    labels.map(function (lab) { return [lab, lab.getBoundingClientRect()]; })
      .forEach(function (pair) {
        var r = pair[1];
        var clash = shown.some(function (o) {
          return r.left < o.right + 2 && r.right > o.left - 2 && r.top < o.bottom + 2 && r.bottom > o.top - 2;
        });
        if (clash) pair[0].style.visibility = "hidden";
        else shown.push(r);
      });
  }

  function gridLabel(p) {
    var code = String(p.grid_code);
    var prefix = String(layersInfo.community_code || "");
    var short = prefix && code.indexOf(prefix) === 0 && code.length > prefix.length ? code.slice(prefix.length) : code;
    var hh = p.households ? "<small>" + number(p.households) + (LANG === "zh" ? " 户" : " hh") + "</small>" : "";
    return esc(short) + hh;
  }

  function popupHtml(name, f) {
    var entry = catalog[name];
    var p = f.properties || {};
    var title = layerName(name);
    var idText = p.name || (entry.key && p[entry.key]) || f.id;
    var rows = entry.fields.map(function (fd) {
      var v = p[fd.name];
      if (v === null || v === undefined || v === "") return "";
      if (fd.type === "bool") v = v ? M.yes : M.no;
      else if (fd.type === "float") v = number(Math.round(v * 10) / 10);
      else if (fd.type === "int") v = number(v);
      else if (LANG === "zh" && fd.values_zh && fd.values_zh[v]) v = fd.values_zh[v];
      return "<tr><th>" + esc(fieldLabel(fd)) + "</th><td>" + esc(v) + "</td></tr>";
    }).join("");
    return '<div class="popup"><h3>' + esc(title) + " · " + esc(idText) + "</h3><table>" + rows + "</table></div>";
  }

  function wanted(name) {
    var s = state[name];
    var st = styleOf(name);
    return s.visible && catalog[name].count > 0 && (!st.minZoom || map.getZoom() >= st.minZoom);
  }

  function featuresUrl(name, params) {
    var q = Object.keys(params).map(function (k) { return k + "=" + encodeURIComponent(params[k]); }).join("&");
    return url(cfg.urls.features, { "__layer__": name }) + "?" + q;
  }

  function load(name) {
    var s = state[name];
    var st = styleOf(name);
    var entry = catalog[name];
    if (!wanted(name)) {
      if (map.hasLayer(s.group)) map.removeLayer(s.group);
      if (s.outline && map.hasLayer(s.outline)) map.removeLayer(s.outline);
      return Promise.resolve();
    }
    if (!map.hasLayer(s.group)) s.group.addTo(map);
    if (s.outline && !map.hasLayer(s.outline)) s.outline.addTo(map);
    var whole = entry.count <= WHOLE_LAYER_MAX;
    if (whole && s.loadedWhole) return Promise.resolve();
    var params = { limit: VIEWPORT_LIMIT };
    if (!whole) {
      var b = map.getBounds().pad(0.25);
      params.bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) {
        return v.toFixed(6);
      }).join(",");
      params.zoom = map.getZoom();
      if (st.fields) params.properties = st.fields.join(",");
    }
    s.partial = !!params.properties;
    if (gcj02) params.crs = "gcj02";
    if (s.controller) s.controller.abort();
    var controller = new AbortController();
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

  var loading = 0;
  function refresh() {
    var names = Object.keys(state);
    loading++;
    document.body.dataset.ready = "0";
    showStatus(M.loading);
    return Promise.all(names.map(load)).then(function () {
      loading--;
      if (loading) return;
      showStatus("");
      var truncated = names.some(function (n) { return state[n].visible && state[n].truncated; });
      if (truncated) showStatus(M.truncated);
      drawOrder();
      declutter();
      // Tests and screenshots wait for this: every visible layer is drawn for this view.
      document.body.dataset.ready = "1";
    });
  }

  // -- side panel -----------------------------------------------------------------------------
  function updateLayerList() {
    var list = el("layer-list");
    var names = Object.keys(state).sort(function (a, b) { return styleOf(b).order - styleOf(a).order; });
    list.innerHTML = names.map(function (name) {
      var e = catalog[name];
      var st = styleOf(name);
      var hint = st.minZoom && map.getZoom() < st.minZoom ? '<span class="hint">' + esc(M.zoom_in_to_see) + "</span>" : "";
      return '<li class="' + (e.count ? "" : "empty") + '"><label><input type="checkbox" data-layer="' +
        esc(name) + '"' + (state[name].visible ? " checked" : "") + (e.count ? "" : " disabled") + ">" +
        "<span>" + esc(layerName(name)) + "</span>" + hint + '</label><span class="count">' + number(e.count) + "</span></li>";
    }).join("");
    updateLegend();
  }

  function updateLegend() {
    var names = Object.keys(state).filter(function (n) { return state[n].visible && catalog[n].count > 0; });
    names.sort(function (a, b) { return styleOf(b).order - styleOf(a).order; });
    el("legend").innerHTML = names.map(function (name) {
      var st = styleOf(name);
      var rows = st.legend ? st.legend(catalog[name]) : [boxRow(hashColour(name), layerName(name))];
      return '<div class="group"><div class="group-title">' + esc(layerName(name)) + "</div>" + rows.join("") + "</div>";
    }).join("") || '<div class="muted">' + esc(M.basemap_none) + "</div>";
  }

  el("layer-list").addEventListener("change", function (ev) {
    var name = ev.target.dataset.layer;
    if (!name) return;
    state[name].visible = ev.target.checked;
    load(name).then(function () { drawOrder(); declutter(); });
    updateLegend();
  });

  function figure(n, label, warn) {
    return '<div class="figure' + (warn ? " warn" : "") + '"><div class="n">' + esc(number(n)) +
      '</div><div class="l">' + esc(label) + "</div></div>";
  }

  var summary = null;
  function renderSummary() {
    var parts = [];
    var b = catalog.buildings;
    if (summary && b) {
      var hh = summary.households || {};
      parts.push(figure(hh.total || 0, M.households_total));
      parts.push(figure(b.count, layerName("buildings")));
      if (hh.roster) {
        parts.push(figure(hh.roster, M.households_roster));
        parts.push(figure(hh.estimated || 0, M.households_estimated));
      }
    }
    var cov = summary && summary.coverage;
    if (cov) {
      parts.push(figure(cov.households_uncovered, M.households_uncovered, cov.households_uncovered > 0));
      parts.push(figure(cov.buildings_uncovered, M.buildings_uncovered, cov.buildings_uncovered > 0));
    }
    ["grids", "zones", "stations", "compounds", "edge_areas"].forEach(function (n) {
      if (catalog[n]) parts.push(figure(catalog[n].count, layerName(n)));
    });
    el("summary").innerHTML = parts.length ? '<div class="figures">' + parts.join("") + "</div>" :
      '<div class="muted">' + esc(M.empty_store) + "</div>";
  }

  function loadSummary() {
    return getJSON(cfg.urls.summary, { cache: "no-cache" }).then(function (s) {
      summary = s;
      renderSummary();
    });
  }

  // -- search ---------------------------------------------------------------------------------
  var results = el("search-results");
  el("search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = el("search-input").value.trim();
    if (!q) return;
    getJSON(cfg.urls.search + "?q=" + encodeURIComponent(q)).then(function (body) {
      if (!body.results.length) {
        results.innerHTML = "<li>" + esc(M.search_none) + "</li>";
      } else {
        results.innerHTML = body.results.map(function (r, i) {
          return '<li tabindex="0" data-i="' + i + '">' + esc(r.label) + '<span class="kind">' +
            esc(LANG === "zh" ? r.zh : r.layer) + "</span></li>";
        }).join("");
      }
      results.hidden = false;
      results.onclick = function (e) {
        var li = e.target.closest("li[data-i]");
        if (!li) return;
        goTo(body.results[Number(li.dataset.i)]);
        results.hidden = true;
      };
      var first = body.results[0];
      var single = body.results.length === 1 || (first && first.exact && !(body.results[1] || {}).exact);
      if (single) { goTo(first); results.hidden = true; }
    }).catch(function (err) { showStatus(M.error + ": " + err.message); });
  });
  document.addEventListener("click", function (e) {
    if (!e.target.closest("#search")) results.hidden = true;
  });

  function goTo(hit) {
    var b = hit.bbox;
    map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 18, padding: [40, 40] });
    var u = url(cfg.urls.feature, { "__layer__": hit.layer, "__id__": hit.id }) + (gcj02 ? "?crs=gcj02" : "");
    getJSON(u).then(function (f) {
      highlight.clearLayers();
      var shape = L.geoJSON(f, {
        renderer: svg, pane: "hatched", interactive: false,
        style: { color: "#00b8d4", weight: 4, fill: false },
        pointToLayer: function (ft, ll) {
          return L.circleMarker(ll, { renderer: svg, pane: "hatched", interactive: false, radius: 16,
            color: "#00b8d4", weight: 4, fill: false });
        },
      }).addTo(highlight);
      var center = shape.getBounds().getCenter();
      L.popup({ maxWidth: 360 }).setLatLng(center).setContent(popupHtml(hit.layer, f)).openOn(map);
    });
  }

  // -- analysis jobs ----------------------------------------------------------------------------
  function renderAnalysis(info) {
    var box = el("analysis");
    if (!cfg.analysis_enabled || !info.enabled) { el("analysis-box").hidden = true; return; }
    if (!info.steps.length) { box.innerHTML = '<div class="muted">' + esc(M.no_steps) + "</div>"; return; }
    box.innerHTML = info.steps.map(function (s) {
      return '<button type="button" data-step="' + esc(s.id) + '">' + esc(s.label) + "</button>";
    }).join("") + '<button type="button" data-step="' + esc(info.all) + '">' + esc(M.run_all) + "</button>" +
      '<div id="job" class="job"></div>';
    box.onclick = function (e) {
      var step = e.target.dataset && e.target.dataset.step;
      if (!step) return;
      setButtons(true);
      getJSON(cfg.urls.analysis + "/" + encodeURIComponent(step), { method: "POST" })
        .then(poll).catch(function (err) { setButtons(false); jobText({ state: "failed", error: err.message }); });
    };
  }
  function setButtons(disabled) {
    Array.prototype.forEach.call(el("analysis").querySelectorAll("button"), function (b) { b.disabled = disabled; });
  }
  function jobText(job) {
    var j = el("job");
    if (!j) return;
    var label = M["job_" + job.state] || job.state;
    var last = job.progress && job.progress.length ? " · " + job.progress[job.progress.length - 1] : "";
    j.className = "job" + (job.state === "failed" ? " failed" : "");
    j.textContent = (job.label ? job.label + ": " : "") + label + (job.error ? " — " + job.error : last);
  }
  function poll(job) {
    jobText(job);
    if (job.state === "done" || job.state === "failed") {
      setButtons(false);
      if (job.state === "done") reloadCatalog();
      return;
    }
    setTimeout(function () {
      getJSON(cfg.urls.jobs + "/" + job.id).then(poll).catch(function () { setButtons(false); });
    }, 1000);
  }

  // -- start ----------------------------------------------------------------------------------
  var layersInfo = {};
  function applyCatalog(info) {
    layersInfo = info;
    var entries = info.layers.filter(function (e) { return e.geometry || e.name === "findings"; });
    entries.forEach(function (e) {
      catalog[e.name] = e;
      if (!state[e.name]) {
        state[e.name] = { visible: styleOf(e.name).visible !== false };
        state[e.name].group = makeGroup(e.name, false);
        if (styleOf(e.name).outline) state[e.name].outline = makeGroup(e.name, true);
      } else {
        state[e.name].loadedWhole = false;
        state[e.name].group.clearLayers();
        if (state[e.name].outline) state[e.name].outline.clearLayers();
      }
    });
    var attributions = (info.attribution || []).map(esc).join(" · ");
    if (attributions) map.attributionControl.addAttribution(attributions);
    renderSummary();
    updateLayerList();
  }

  function reloadCatalog() {
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

  getJSON(cfg.urls.layers).then(function (info) {
    applyCatalog(info);
    var b = info.bounds;
    if (b) map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [10, 10] });
    else map.setView([35, 105], 4);
    map.on("moveend", function () { refresh(); updateLayerList(); });
    map.on("zoomend", function () { document.body.classList.toggle("low-zoom", map.getZoom() < 15); });
    document.body.classList.toggle("low-zoom", map.getZoom() < 15);
    return refresh();
  }).catch(function (err) { showStatus(M.error + ": " + err.message); });

  loadSummary().catch(function () {});
  getJSON(cfg.urls.analysis).then(renderAnalysis).catch(function () { el("analysis-box").hidden = true; });

  // For tests and the console: the map and per-layer drawing state.
  window.plannerMap = { map: map, state: state, catalog: catalog };
})();
