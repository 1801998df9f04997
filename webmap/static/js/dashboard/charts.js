// Charts drawn as plain SVG: households per grid against the rule's range, the walking-distance
// distribution, and households covered by number of new stations (MCLP). Text from the catalogue.
import { esc } from "../dom.js";
import { M, number } from "../i18n.js";

const NS = "http://www.w3.org/2000/svg";
const W = 560, H = 260, PAD = { l: 56, r: 12, t: 12, b: 34 };

function svgEl(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
  if (parent) parent.appendChild(e);
  return e;
}

function label(parent, x, y, text, anchor) {
  const t = svgEl("text", { x: x, y: y, "text-anchor": anchor || "middle" }, parent);
  t.textContent = text;
  return t;
}

function tip(node, text) { svgEl("title", {}, node).textContent = text; }

// Round tick steps (1, 2, 5 × 10^n) so that about `n` ticks span `max`.
function ticks(max, n) {
  if (!(max > 0)) return [0];
  const raw = max / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(function (m) { return m * p; }).find(function (s) { return s >= raw; });
  const out = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

function frame(fig, title) {
  fig.innerHTML = "<figcaption>" + esc(title) + "</figcaption>";
  const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title }, fig);
  return svg;
}

function yAxis(svg, max, y) {
  ticks(max, 5).forEach(function (v) {
    svgEl("line", { x1: PAD.l - 4, x2: W - PAD.r, y1: y(v), y2: y(v), class: "axis", "stroke-opacity": 0.25 }, svg);
    label(svg, PAD.l - 6, y(v) + 4, number(v), "end");
  });
  svgEl("line", { x1: PAD.l, x2: PAD.l, y1: PAD.t, y2: H - PAD.b, class: "axis" }, svg);
  svgEl("line", { x1: PAD.l, x2: W - PAD.r, y1: H - PAD.b, y2: H - PAD.b, class: "axis" }, svg);
}

// Households per grid, fewest first, over the shaded band of the rule (300-500 by default).
export function gridChart(fig, chart, onBar) {
  const title = M.dash_chart_grids.replace("{min}", chart.min).replace("{max}", chart.max);
  const svg = frame(fig, title);
  const grids = chart.grids;
  const top = Math.max(chart.max * 1.2, ...grids.map(function (g) { return g.households; }), 1);
  const y = function (v) { return H - PAD.b - (H - PAD.t - PAD.b) * v / top; };
  svgEl("rect", { x: PAD.l, width: W - PAD.l - PAD.r, y: y(chart.max), height: y(chart.min) - y(chart.max), class: "band" }, svg);
  yAxis(svg, top, y);
  const bw = (W - PAD.l - PAD.r) / Math.max(grids.length, 1);
  grids.forEach(function (g, i) {
    const bar = svgEl("rect", { x: PAD.l + i * bw + bw * 0.1, width: Math.max(bw * 0.8, 1), y: y(g.households),
      height: Math.max(H - PAD.b - y(g.households), 0.5), class: "bar" + (g.in_range ? "" : " out"),
      "data-grid": g.grid_code }, svg);
    tip(bar, g.grid_code + ": " + number(g.households) + " " + M.households_short);
    if (onBar) bar.addEventListener("click", function () { onBar(g.grid_code); });
  });
  label(svg, (W + PAD.l) / 2, H - 8, M.dash_grids + " (" + grids.length + ")");
  return svg;
}

// Households by walking distance to the nearest station, in bins; beyond the threshold in red.
export function walkChart(fig, hist) {
  const svg = frame(fig, M.dash_chart_walk);
  const counts = hist.households.concat([hist.over.households]);
  const top = Math.max(...counts, 1);
  const y = function (v) { return H - PAD.b - (H - PAD.t - PAD.b) * v / top; };
  yAxis(svg, top, y);
  const n = counts.length, bw = (W - PAD.l - PAD.r) / n;
  counts.forEach(function (c, i) {
    const from = hist.edges[i], beyond = i === n - 1 || from >= hist.threshold_m;
    const bar = svgEl("rect", { x: PAD.l + i * bw + 1, width: Math.max(bw - 2, 1), y: y(c),
      height: Math.max(H - PAD.b - y(c), 0), class: "bar" + (beyond ? " beyond" : "") }, svg);
    const range = i === n - 1 ? "> " + number(hist.edges[n - 1]) : number(from) + "–" + number(hist.edges[i + 1]);
    tip(bar, range + " " + M.dash_metres + ": " + number(c) + " " + M.households_short);
    if (i % Math.ceil(n / 8) === 0) label(svg, PAD.l + i * bw, H - PAD.b + 14, number(from));
  });
  const lx = PAD.l + bw * hist.threshold_m / hist.bin_m;
  svgEl("line", { x1: lx, x2: lx, y1: PAD.t, y2: H - PAD.b, class: "limit" }, svg);
  label(svg, (W + PAD.l) / 2, H - 4, M.dash_metres);
  return svg;
}

// Households covered against the number of new stations: where it flattens, another stops paying.
export function curveChart(fig, curve) {
  const svg = frame(fig, M.dash_chart_curve);
  const pts = curve.points;
  const total = Math.max(curve.households_total, 1);
  const y = function (v) { return H - PAD.b - (H - PAD.t - PAD.b) * v / total; };
  const last = Math.max(pts.length - 1, 1);
  const x = function (p) { return PAD.l + (W - PAD.l - PAD.r) * p / last; };
  yAxis(svg, total, y);
  svgEl("line", { x1: PAD.l, x2: W - PAD.r, y1: y(curve.households_total), y2: y(curve.households_total), class: "limit" }, svg);
  svgEl("polyline", { points: pts.map(function (p) { return x(p.new_stations) + "," + y(p.households_covered); }).join(" "), class: "line" }, svg);
  pts.forEach(function (p) {
    const dot = svgEl("circle", { cx: x(p.new_stations), cy: y(p.households_covered), r: 4, class: "dot",
      "data-new": p.new_stations, "data-covered": p.households_covered }, svg);
    tip(dot, p.new_stations + " " + M.dash_new_stations + ": " + number(p.households_covered) + " " + M.households_short);
    label(svg, x(p.new_stations), H - PAD.b + 14, String(p.new_stations));
  });
  label(svg, (W + PAD.l) / 2, H - 4, M.dash_new_stations);
  return svg;
}
