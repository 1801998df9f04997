// What lies under a click while editing: the feature of a layer that holds the point, asked of
// the API in a tiny box around it and tested against its (Multi)Polygon rings here.
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

// Inside a (Multi)Polygon, holes excluded?
export function contains(geometry, latlng) {
  if (!geometry) return false;
  const polys = geometry.type === "Polygon" ? [geometry.coordinates] :
    geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polys.some(function (rings) {
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
