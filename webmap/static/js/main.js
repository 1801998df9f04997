// The map page: draws every layer of the store from the REST API (by viewport, simplified by
// zoom), with a layer switcher, legend, pop-ups in the schema's Chinese names, search and
// analysis runs. Loaded as an ES module after the vendored Leaflet (the global L); no build step.
import { getJSON } from "./api.js";
import { initCommunity } from "./community.js";
import { cfg } from "./config.js";
import { initContacts } from "./contacts.js";
import { showStatus } from "./dom.js";
import { initFindings } from "./edit_findings.js";
import { initForms } from "./edit_forms.js";
import { initPaint } from "./edit_paint.js";
import { initTools } from "./edit_tools.js";
import { initEditor } from "./editor.js";
import { M } from "./i18n.js";
import { initAnalysis } from "./jobs.js";
import { applyCatalog, initLayerList, refresh, updateLayerList } from "./layers.js";
import { map } from "./map.js";
import { initPanel } from "./panel.js";
import { initSearch } from "./search.js";
import { catalog, state } from "./state.js";
import { loadSummary } from "./summary.js";
import { initVersions } from "./versions.js";

initLayerList();
initSearch();
initPanel();
initContacts();

getJSON(cfg.urls.layers).then(function (info) {
  applyCatalog(info);
  const b = info.bounds;
  if (b) map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [10, 10] });
  else map.setView([35, 105], 4);
  map.on("moveend", function () { refresh(); updateLayerList(); });
  map.on("zoomend", function () { document.body.classList.toggle("low-zoom", map.getZoom() < 15); });
  document.body.classList.toggle("low-zoom", map.getZoom() < 15);
  return refresh();
}).catch(function (err) { showStatus(M.error + ": " + err.message); });

loadSummary().catch(function () {});
initAnalysis();
initEditor();
initTools();
initFindings();
initPaint();
initForms();
initVersions();
initCommunity();

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", function () {
    getJSON(cfg.urls.logout, { method: "POST" }).finally(function () {
      window.location.assign(cfg.urls.login);
    });
  });
}

// For tests and the console: the map and per-layer drawing state.
window.plannerMap = { map: map, state: state, catalog: catalog, refresh: refresh };
