// What the page knows of the store's layers, shared by the modules that draw and describe them.

// layer name → entry of /api/layers (schema, count, bounds, statistics)
export const catalog = {};

// layer name → {group, outline, visible, controller, loadedWhole, truncated, partial, ...}
export const state = {};

// The last answer of /api/layers as a whole (community code, attribution, bounds).
export const store = { info: {} };
