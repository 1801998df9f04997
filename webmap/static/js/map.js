// The Leaflet map: its renderers, the pane of hatched layers, the highlight of search hits and
// the optional tile basemap (none by default: the store's roads, buildings and water are the base).
import { EDGE, DISPUTED } from "./colours.js";
import { cfg } from "./config.js";
import { esc } from "./dom.js";

// Leaflet's canvas hit-tests a polygon's inside even when it is not filled; an outline-only
// polygon must only catch clicks on its line, or it hides every feature below it.
const polygonContains = L.Polygon.prototype._containsPoint;
L.Polygon.include({
  _containsPoint: function (p) {
    if (this.options.fill) return polygonContains.call(this, p);
    return L.Polyline.prototype._containsPoint.call(this, p, true);
  },
});

export const map = L.map("map", { zoomControl: true, preferCanvas: true, maxZoom: 20, minZoom: 3,
  zoomSnap: 0.25, zoomDelta: 0.5, wheelPxPerZoomLevel: 120 });
map.attributionControl.setPrefix(false);
L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

const basemap = cfg.basemap;
// Over GCJ-02 tiles (Gaode) the API shifts features for display.
export const gcj02 = !!(basemap && basemap.gcj02);
if (basemap) {
  L.tileLayer(basemap.url, { attribution: esc(basemap.attribution || ""), maxZoom: basemap.maxZoom || 19,
    subdomains: basemap.subdomains || "abc" }).addTo(map);
}

export const highlight = L.layerGroup().addTo(map);

// One canvas for every vector layer (a canvas above another would swallow its clicks);
// drawing order is restored with bringToFront after each load. Hatched layers use SVG.
export const canvas = L.canvas({ tolerance: 3 });
const svgPane = map.createPane("hatched");
svgPane.style.zIndex = "450";
export const svg = L.svg({ pane: "hatched" }).addTo(map);

const SVG_NS = "http://www.w3.org/2000/svg";

function addHatch(root, id, colour) {
  if (root.querySelector("#" + id)) return;
  let defs = root.querySelector("defs");
  if (!defs) { defs = document.createElementNS(SVG_NS, "defs"); root.insertBefore(defs, root.firstChild); }
  const p = document.createElementNS(SVG_NS, "pattern");
  p.setAttribute("id", id);
  p.setAttribute("patternUnits", "userSpaceOnUse");
  p.setAttribute("width", "8");
  p.setAttribute("height", "8");
  p.setAttribute("patternTransform", "rotate(45)");
  const bg = document.createElementNS(SVG_NS, "rect");
  bg.setAttribute("width", "8"); bg.setAttribute("height", "8");
  bg.setAttribute("fill", colour); bg.setAttribute("fill-opacity", "0.05");
  const line = document.createElementNS(SVG_NS, "line");
  line.setAttribute("x1", "0"); line.setAttribute("y1", "0");
  line.setAttribute("x2", "0"); line.setAttribute("y2", "8");
  line.setAttribute("stroke", colour); line.setAttribute("stroke-width", "1.3");
  line.setAttribute("stroke-opacity", "0.6");
  p.appendChild(bg); p.appendChild(line);
  defs.appendChild(p);
}

// Hatch patterns referenced by fillColor "url(#…)" (SVG renderer only); the renderer's
// element exists once the map has a view.
map.whenReady(function () {
  addHatch(svg._container, "hatch-edge", EDGE);
  addHatch(svg._container, "hatch-disputed", DISPUTED);
});
