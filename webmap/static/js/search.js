// Search by grid code, building or compound name: a list of hits, or straight to the only one.
import { featureUrl, getJSON } from "./api.js";
import { cfg } from "./config.js";
import { el, esc, showStatus } from "./dom.js";
import { M, hitLayer } from "./i18n.js";
import { gcj02, highlight, map, svg } from "./map.js";
import { popupHtml } from "./popups.js";

// Zoom to a hit, outline it and open its pop-up.
function goTo(hit) {
  const b = hit.bbox;
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 18, padding: [40, 40] });
  const u = featureUrl(hit.layer, hit.id) + (gcj02 ? "?crs=gcj02" : "");
  getJSON(u).then(function (f) {
    highlight.clearLayers();
    const shape = L.geoJSON(f, {
      renderer: svg, pane: "hatched", interactive: false,
      style: { color: "#00b8d4", weight: 4, fill: false },
      pointToLayer: function (ft, ll) {
        return L.circleMarker(ll, { renderer: svg, pane: "hatched", interactive: false, radius: 16,
          color: "#00b8d4", weight: 4, fill: false });
      },
    }).addTo(highlight);
    const center = shape.getBounds().getCenter();
    L.popup({ maxWidth: 360 }).setLatLng(center).setContent(popupHtml(hit.layer, f)).openOn(map);
  });
}

export function initSearch() {
  const results = el("search-results");
  el("search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const q = el("search-input").value.trim();
    if (!q) return;
    getJSON(cfg.urls.search + "?q=" + encodeURIComponent(q)).then(function (body) {
      if (!body.results.length) {
        results.innerHTML = "<li>" + esc(M.search_none) + "</li>";
      } else {
        results.innerHTML = body.results.map(function (r, i) {
          return '<li tabindex="0" data-i="' + i + '">' + esc(r.label) + '<span class="kind">' +
            esc(hitLayer(r)) + "</span></li>";
        }).join("");
      }
      results.hidden = false;
      results.onclick = function (e) {
        const li = e.target.closest("li[data-i]");
        if (!li) return;
        goTo(body.results[Number(li.dataset.i)]);
        results.hidden = true;
      };
      const first = body.results[0];
      const single = body.results.length === 1 || (first && first.exact && !(body.results[1] || {}).exact);
      if (single) { goTo(first); results.hidden = true; }
    }).catch(function (err) { showStatus(M.error + ": " + err.message); });
  });
  document.addEventListener("click", function (e) {
    if (!e.target.closest("#search")) results.hidden = true;
  });
}
