// What lies under a click while editing: the feature of a layer that holds the point, asked of
// the API in a tiny box around it and tested against its (Multi)Polygon rings here. The brush
// and lasso (edit_paint.js) test many features the same way: boxes, rings, a point inside each.
import { featuresUrl, getJSON } from "./api.js";

// Ray casting over one ring: is the point inside?
function inRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

// Is the point [x, y] inside the closed ring?
export function inPolygon(ring, point) { return inRing(ring, point[0], point[1]); }

function polygons(geometry) {
  if (!geometry) return [];
  return geometry.type === "Polygon" ? [geometry.coordinates] :
    geometry.type === "MultiPolygon" ? geometry.coordinates : [];
}

// [west, south, east, north] of a (Multi)Polygon.
export function bboxOf(geometry) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  polygons(geometry).forEach(function (rings) {
    rings[0].forEach(function (c) {
      if (c[0] < b[0]) b[0] = c[0];
      if (c[1] < b[1]) b[1] = c[1];
      if (c[0] > b[2]) b[2] = c[0];
      if (c[1] > b[3]) b[3] = c[1];
    });
  });
  return b;
}

// A point [x, y] surely inside a (Multi)Polygon (null if empty), as shapely's
// representative_point: in its largest part, the middle of the widest span of a horizontal line
// through the middle of that part's box (holes and concave sides left out).
export function interiorPoint(geometry) {
  let best = null, bestSize = -1;
  polygons(geometry).forEach(function (rings) {
    const b = bboxOf({ type: "Polygon", coordinates: rings });
    const size = (b[2] - b[0]) * (b[3] - b[1]);
    if (size > bestSize) { best = rings; bestSize = size; }
  });
  if (!best) return null;
  const b = bboxOf({ type: "Polygon", coordinates: best });
  const y = (b[1] + b[3]) / 2;
  const xs = [];
  best.forEach(function (ring) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const a = ring[j], c = ring[i];
      if ((a[1] > y) !== (c[1] > y)) xs.push(a[0] + ((y - a[1]) * (c[0] - a[0])) / (c[1] - a[1]));
    }
  });
  xs.sort(function (p, q) { return p - q; });
  let x = null, widest = -1;
  for (let i = 0; i + 1 < xs.length; i += 2) {
    if (xs[i + 1] - xs[i] > widest) { widest = xs[i + 1] - xs[i]; x = (xs[i] + xs[i + 1]) / 2; }
  }
  return x === null ? [(b[0] + b[2]) / 2, y] : [x, y];
}

// Inside a (Multi)Polygon, holes excluded?
export function contains(geometry, latlng) {
  return polygons(geometry).some(function (rings) {
    return inRing(rings[0], latlng.lng, latlng.lat) &&
      !rings.slice(1).some(function (hole) { return inRing(hole, latlng.lng, latlng.lat); });
  });
}

// The feature of a layer under a point: the features in a tiny box, the one that holds it.
export function featureAt(layer, latlng) {
  const d = 0.00003;
  const bbox = [latlng.lng - d, latlng.lat - d, latlng.lng + d, latlng.lat + d]
    .map(function (v) { return v.toFixed(7); }).join(",");
  return getJSON(featuresUrl(layer, { bbox: bbox, limit: 50 })).then(function (fc) {
    return fc.features.filter(function (f) { return contains(f.geometry, latlng); })[0] || null;
  });
}
