// Colours and classes shared by the map's styles and its legend.

export const PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
  "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6", "#6a3d9a", "#ff7f00", "#33a02c", "#b15928"];
export const HOUSEHOLD_COLOURS = ["#fff3b0", "#fed976", "#feb24c", "#fd8d3c", "#e8590c"];
export const NO_HOUSEHOLDS = "#d9d9d9";
export const UNCOVERED = "#d6006f";
export const EDGE = "#6a1b9a";
export const DISPUTED = "#c62828";

// Barriers by kind: colour, width and dashes of their line.
export const BARRIER = {
  wall: { color: "#4e342e", weight: 2.5 },
  fence: { color: "#8d6e63", weight: 1.5, dashArray: "4 3" },
  retaining_wall: { color: "#757575", weight: 2 },
  railway: { color: "#424242", weight: 3, dashArray: "10 6" },
  waterway: { color: "#3d8fd1", weight: 3 },
  water: { color: "#3d8fd1", weight: 2.5 },
};

// Road classes (OSM highway values) drawn alike.
export const MAJOR = { motorway: 1, trunk: 1, primary: 1, secondary: 1, motorway_link: 1, trunk_link: 1,
  primary_link: 1, secondary_link: 1 };
export const MEDIUM = { tertiary: 1, tertiary_link: 1, unclassified: 1, residential: 1, living_street: 1 };
export const PATHS = { footway: 1, path: 1, pedestrian: 1, steps: 1, cycleway: 1, track: 1 };

// A stable colour for a code or a name.
export function hashColour(text) {
  let h = 0;
  text = String(text);
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

export function darker(hex) {
  const n = parseInt(hex.slice(1), 16);
  const f = function (v) { return Math.round(v * 0.7); };
  const r = f(n >> 16), g = f((n >> 8) & 255), b = f(n & 255);
  return "#" + ((1 << 24) + (r << 16) + (g << 8) + b).toString(16).slice(1);
}

// Upper bounds of the household classes: the layer's quintile breaks, whole and increasing.
export function householdBreaks(entry) {
  const st = entry && entry.stats && entry.stats.households;
  if (!st || !st.breaks) return [10, 30, 60, 100];
  const out = [];
  st.breaks.forEach(function (b) {
    b = Math.max(1, Math.round(b));
    if (!out.length || b > out[out.length - 1]) out.push(b);
  });
  return out;
}

export function classColour(value, breaks) {
  for (let i = 0; i < breaks.length; i++) if (value <= breaks[i]) return HOUSEHOLD_COLOURS[i];
  return HOUSEHOLD_COLOURS[Math.min(breaks.length, HOUSEHOLD_COLOURS.length - 1)];
}

// Whether walking coverage has been computed for the buildings.
export function coverageKnown(entry) {
  const s = entry && entry.stats;
  if (!s) return false;
  const walk = s.walk_m && s.walk_m.filled > 0;
  const covered = s.covered && s.covered.values && s.covered.values.True > 0;
  return !!(walk || covered);
}
