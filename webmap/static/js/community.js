// The community selector of a store holding several communities (社区): the editor's previews and
// saves and the versions panel (list, compare, roll back, publish) then touch the chosen
// community's grids only, and the map zooms to it. A store of one community shows no selector.
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { M } from "./i18n.js";
import { map } from "./map.js";

// The chosen community's code; "" for all of them (the whole plan).
export const scope = { code: "", busy: function () { return false; } };
const listeners = [];

export function onCommunity(fn) { listeners.push(fn); }

// `url` with the chosen community as a query parameter (unchanged for all of them).
export function withCommunity(url) {
  if (!scope.code) return url;
  return url + (url.indexOf("?") < 0 ? "?" : "&") + "community=" + encodeURIComponent(scope.code);
}

// A request body with the chosen community (unchanged for all of them).
export function bodyWithCommunity(body) {
  return scope.code ? Object.assign({}, body, { community: scope.code }) : body;
}

export function initCommunity() {
  const list = cfg.communities || [];
  const box = el("community-box");
  if (!box || list.length < 2) return;
  const select = el("community-select");
  select.innerHTML = '<option value="">' + esc(M.community_all) + "</option>" + list.map(function (c) {
    return '<option value="' + esc(c.community_code) + '">' + esc(c.name) + " · " + esc(c.community_code) + "</option>";
  }).join("");
  box.hidden = false;
  select.addEventListener("change", function () {
    // Edits in progress belong to the community they were made in: finish them first.
    if (scope.busy()) { select.value = scope.code; showStatus(M.community_busy); return; }
    scope.code = select.value;
    document.body.dataset.community = scope.code;
    const chosen = list.find(function (c) { return c.community_code === scope.code; });
    if (chosen) map.fitBounds([[chosen.bbox[1], chosen.bbox[0]], [chosen.bbox[3], chosen.bbox[2]]], { padding: [10, 10] });
    listeners.forEach(function (fn) { fn(scope.code); });
  });
}
