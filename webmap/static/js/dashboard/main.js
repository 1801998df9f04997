// The officials' dashboard (planner_web.dashboard): headline figures for the existing stations and
// a scenario with their difference, a coverage map switched between the two, sortable tables of
// grids, zones and stations that zoom the map, findings and uncovered buildings, charts, the
// comparison of two plan versions and the downloads; where the store holds several communities,
// their figures side by side and a selector showing one of them. Loaded as an ES module after
// Leaflet.
import { getJSON, url } from "../api.js";
import { cfg } from "../config.js";
import { el, esc, showStatus } from "../dom.js";
import { M, number } from "../i18n.js";
import { curveChart, gridChart, walkChart } from "./charts.js";
import { initCompare } from "./compare.js";
import { BAND_COLOURS, loadBase, map, showCoverage, zoomToBox, zoomToFeature, zoomToPoint } from "./dash_map.js";
import { renderTable } from "./tables.js";

const EXISTING = "existing";
// Figures where less is better: their decrease is shown as good news.
const LOWER_BETTER = { households_uncovered: 1, buildings_uncovered: 1, findings: 1, findings_open: 1 };
const NEUTRAL = { households_total: 1, grids: 1, staff_needed: 1, stations_counted: 1 };
const page = { data: null, showing: "selected", chosen: null, community: "", compare: null };

function ready(flag) { document.body.dataset.ready = flag ? "1" : "0"; }

function share(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }

function shown(measure, v) {
  if (v === null || v === undefined) return "–";
  return measure === "coverage_share" ? share(v) : number(v);
}

function signed(measure, d) {
  if (d === null || d === undefined) return "–";
  const text = measure === "coverage_share" ? (d * 100).toFixed(1) + "%" : number(d);
  return d > 0 ? "+" + text : text;
}

function setName(key) {
  return key === EXISTING ? M.dash_existing : M.dash_scenario.replace("{name}", key);
}

function renderHeadline(data) {
  const rows = data.headline.difference.map(function (r) {
    let cls = "";
    if (r.difference && !NEUTRAL[r.measure]) cls = (r.difference > 0) !== !!LOWER_BETTER[r.measure] ? "up" : "down";
    return '<tr data-measure="' + r.measure + '"><td>' + esc(M["m_" + r.measure]) + '</td><td class="a" data-value="' +
      r.a + '">' + esc(shown(r.measure, r.a)) + '</td><td class="b" data-value="' + r.b + '">' +
      esc(shown(r.measure, r.b)) + '</td><td class="diff ' + cls + '" data-value="' + r.difference + '">' +
      esc(signed(r.measure, r.difference)) + "</td></tr>";
  }).join("");
  el("headline").innerHTML = "<thead><tr><th>" + esc(M.dash_measure) + "</th><th>" + esc(M.dash_existing) +
    "</th><th>" + esc(setName(data.selected)) + "</th><th>" + esc(M.dash_difference) + "</th></tr></thead><tbody>" +
    rows + "</tbody>";
}

function renderSelect(data) {
  const scenarios = data.station_sets.filter(function (s) { return s.key !== EXISTING; });
  const select = el("stations-select");
  if (!scenarios.length) {
    select.innerHTML = '<option value="">' + esc(M.dash_no_scenario) + "</option>";
    select.disabled = true;
    return;
  }
  select.disabled = false;
  select.innerHTML = scenarios.map(function (s) {
    return '<option value="' + esc(s.key) + '"' + (s.key === data.selected ? " selected" : "") + ">" +
      esc(setName(s.key)) + " (" + s.proposed + ")</option>";
  }).join("");
}

function bandNames(view) {
  return view.bands.map(function (b, i) {
    if (b.label === "beyond") return M.dash_band_beyond.replace("{m}", number(view.minutes || 15));
    if (b.label === "unreachable") return M.dash_band_unreachable;
    const from = i === 0 ? 0 : view.bands[i - 1].minutes_to;
    return M.dash_band_minutes.replace("{a}", number(from)).replace("{b}", number(b.minutes_to));
  });
}

function renderBands(view, names) {
  el("bands").innerHTML = "<thead><tr><th>" + esc(M.dash_band) + "</th><th>" + esc(M.dash_households) + "</th><th>" +
    esc(M.dash_buildings) + "</th></tr></thead><tbody>" + view.bands.map(function (b, i) {
    return '<tr data-band="' + b.label + '"><td><span class="swatch" style="background:' + BAND_COLOURS[i] + '"></span>' +
      esc(names[i]) + '</td><td data-value="' + b.households + '">' + number(b.households) + '</td><td data-value="' +
      b.buildings + '">' + number(b.buildings) + "</td></tr>";
  }).join("") + "</tbody>";
}

function currentView() {
  const d = page.data;
  return d.coverage[page.showing === EXISTING ? EXISTING : d.selected];
}

function showView() {
  const view = currentView();
  const names = bandNames(view);
  showCoverage(view, names);
  renderBands(view, names);
  renderStations(view);
  renderUncovered(view);
  walkChart(el("chart-walk"), view.histogram);
  document.body.dataset.showing = view.key;
}

function zoomGrid(code) { zoomToFeature("grids", code); }

function renderTables(data) {
  const grid = [
    { key: "grid_code", label: M.col_grid_code },
    { key: "name", label: M.col_name },
    { key: "zone_code", label: M.col_zone_code },
    { key: "households", label: M.col_households, num: true,
      warn: function (r) { return r.households < data.charts.grid_households.min || r.households > data.charts.grid_households.max; } },
    { key: "buildings", label: M.col_buildings, num: true },
    { key: "area_m2", label: M.col_area_ha, num: true, format: function (v) { return (v / 10000).toFixed(2); } },
    { key: "density", label: M.col_density, num: true, format: function (v) { return v.toFixed(0); } },
    { key: "special_groups", label: M.col_special_groups, num: true },
    { key: "places", label: M.col_places, num: true },
    { key: "staff", label: M.col_staff, num: true,
      value: function (r) { return (r.grid_leaders || 0) + (r.fulltime_workers || 0) + (r.parttime_workers || 0) + (r.building_leaders || 0); },
      format: function (v, r) { return [r.grid_leaders, r.fulltime_workers, r.parttime_workers, r.building_leaders].map(function (x) { return x || 0; }).join("/"); } },
    { key: "households_beyond_selected", label: M.col_beyond, num: true, warn: function (r) { return r.households_beyond_selected > 0; } },
    { key: "flag", label: M.col_flag },
  ];
  renderTable(el("grids-table"), grid, data.tables.grids, function (r) { return r.grid_code; },
    function (r) { zoomGrid(r.grid_code); });
  const zone = [
    { key: "zone_code", label: M.col_zone_code },
    { key: "name", label: M.col_name },
    { key: "households", label: M.col_households, num: true },
    { key: "grids", label: M.col_grids, num: true },
  ];
  renderTable(el("zones-table"), zone, data.tables.zones, function (r) { return r.zone_code; },
    function (r) { zoomToFeature("zones", r.zone_code); });
}

function renderStations(view) {
  const cols = [
    { key: "name", label: M.col_station, value: function (r) { return r.name || r.station_id; } },
    { key: "status", label: M.col_status, format: function (v) { return M[v] || v; } },
    { key: "households_served", label: M.col_served, num: true },
    { key: "walk_m_p50", label: M.col_walk_p50, num: true },
    { key: "walk_m_p90", label: M.col_walk_p90, num: true },
    { key: "walk_m_max", label: M.col_walk_max, num: true },
    { key: "capacity", label: M.col_capacity, num: true, format: function (v) { return v ? number(v) : "–"; } },
  ];
  renderTable(el("stations-table"), cols, view.stations, function (r) { return r.station_id; },
    function (r) { if (r.lon !== null) zoomToPoint(r.lon, r.lat, 17); });
}

const LISTED = 50;

function renderUncovered(view) {
  const list = view.uncovered;
  if (!list.length) { el("uncovered").innerHTML = '<li class="muted">' + esc(M.dash_uncovered_none) + "</li>"; return; }
  el("uncovered").innerHTML = list.slice(0, LISTED).map(function (b, i) {
    const walk = b.walk_m === null ? M.dash_band_unreachable : number(b.walk_m) + " " + M.dash_metres;
    return '<li data-i="' + i + '" data-building="' + esc(b.building_id) + '"><span>' + esc(b.name || b.building_id) +
      (b.grid_code ? " · " + esc(b.grid_code) : "") + " · " + number(b.households) + " " + esc(M.households_short) +
      " · " + esc(walk) + '</span><button type="button">' + esc(M.dash_zoom) + "</button></li>";
  }).join("") + (list.length > LISTED ? '<li class="muted">' + esc(M.dash_more.replace("{n}", number(list.length - LISTED))) + "</li>" : "");
  el("uncovered").onclick = function (ev) {
    const li = ev.target.closest("li[data-i]");
    if (li) { const b = list[Number(li.dataset.i)]; zoomToPoint(b.lon, b.lat, 18); }
  };
}

function renderFindings(data) {
  const list = data.tables.findings;
  if (!list.length) { el("findings").innerHTML = '<li class="muted">' + esc(M.dash_findings_none) + "</li>"; return; }
  el("findings").innerHTML = list.map(function (f, i) {
    const kind = cfg.values["kind:" + f.kind] || f.kind;
    return '<li data-i="' + i + '"><span><b>' + esc(kind) + "</b> " + esc(f.grids || f.ref || "") +
      (f.flagged ? ' <i class="muted">(' + esc(M.dash_flagged) + ")</i>" : "") + '<br><span class="muted">' +
      esc(f.detail || "") + '</span></span><button type="button">' + esc(M.dash_zoom) + "</button></li>";
  }).join("");
  el("findings").onclick = function (ev) {
    const li = ev.target.closest("li[data-i]");
    if (!li) return;
    const f = list[Number(li.dataset.i)];
    if (f.lon !== null && f.lon !== undefined) zoomToPoint(f.lon, f.lat, 17);
    else if (f.grids) zoomGrid(String(f.grids).split(",")[0]);
  };
}

function renderDownloads() {
  const lang = cfg.lang;
  const links = [
    [cfg.urls.report + "?format=xlsx&lang=" + lang, M.dash_report_xlsx, "xlsx"],
    [cfg.urls.report + "?format=pdf&lang=" + lang, M.dash_report_pdf, "pdf"],
  ];
  [["grids", M.dash_grids], ["buildings", M.dash_buildings], ["stations", M.dash_stations]].forEach(function (l) {
    [["geojson", "GeoJSON"], ["shp", "Shapefile"]].forEach(function (f) {
      links.push([url(cfg.urls.export, { "__layer__": l[0] }) + "?format=" + f[0],
        M.dash_export.replace("{layer}", l[1]).replace("{format}", f[1]), l[0] + "-" + f[0]]);
    });
  });
  el("downloads").innerHTML = links.map(function (l) {
    return '<li><a href="' + esc(l[0]) + '" download data-download="' + l[2] + '">' + esc(l[1]) + "</a></li>";
  }).join("");
}

function loadCurve() {
  el("chart-curve").innerHTML = "<figcaption>" + esc(M.dash_chart_curve) + '</figcaption><p class="muted">' +
    esc(M.dash_computing) + "</p>";
  return getJSON(cfg.urls.curve).then(function (curve) {
    curveChart(el("chart-curve"), curve);
    document.body.dataset.curve = "1";
  }).catch(function (err) { el("chart-curve").innerHTML = '<p class="muted">' + esc(err.message) + "</p>"; });
}

function percent(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }

function renderCommunities(data) {
  const list = data.communities || [];
  if (list.length < 2) return Promise.resolve();
  el("communities-card").hidden = false;
  const select = el("community-select");
  select.innerHTML = '<option value="">' + esc(M.dash_community_all) + "</option>" + list.map(function (c) {
    return '<option value="' + esc(c.community_code) + '"' + (c.community_code === page.community ? " selected" : "") +
      ">" + esc(c.name || c.community_code) + "</option>";
  }).join("");
  return getJSON(cfg.urls.communities).then(function (answer) {
    const cols = [
      { key: "community_code", label: M.col_community_code },
      { key: "name", label: M.col_name },
      { key: "households", label: M.col_households, num: true },
      { key: "grids", label: M.col_grids, num: true },
      { key: "in_range_share", label: M.col_in_range_share, num: true, format: percent,
        warn: function (r) { return r.in_range_share !== null && r.in_range_share < 0.9; } },
      { key: "on_features_share", label: M.col_on_features, num: true, format: percent },
      { key: "coverage_share", label: M.col_coverage, num: true, format: percent },
      { key: "stations", label: M.col_stations, num: true },
      { key: "staff", label: M.col_staff_total, num: true },
    ];
    renderTable(el("communities-table"), cols, answer.communities, function (r) { return r.community_code; },
      function (r) { chooseCommunity(r.community_code); });
    document.body.dataset.communities = String(answer.communities.length);
  });
}

function chooseCommunity(code) {
  page.community = code;
  el("community-select").value = code;
  document.body.dataset.community = code;
  const chosen = (page.data.communities || []).find(function (c) { return c.community_code === code; });
  return load(page.chosen).then(function () {
    if (chosen && chosen.bbox) zoomToBox(chosen.bbox);
    return page.compare ? page.compare() : null;
  });
}

function load(stations) {
  ready(false);
  const query = [];
  if (stations) query.push("stations=" + encodeURIComponent(stations));
  if (page.community) query.push("community=" + encodeURIComponent(page.community));
  const u = cfg.urls.dashboard + (query.length ? "?" + query.join("&") : "");
  return getJSON(u).then(function (data) {
    const first = page.data === null;
    page.data = data;
    page.chosen = data.selected;
    if (first) renderCommunities(data).catch(function (err) { showStatus(M.error + ": " + err.message); });
    el("cover-selected-label").textContent = setName(data.selected);
    renderSelect(data);
    renderHeadline(data);
    renderTables(data);
    renderFindings(data);
    gridChart(el("chart-grids"), data.charts.grid_households, zoomGrid);
    return based.then(function () { showView(); ready(true); });
  }).catch(function (err) { showStatus(M.error + ": " + err.message); });
}

const based = cfg.has_plan ? loadBase() : Promise.resolve();
renderDownloads();
if (cfg.has_plan) {
  // The curve (a solver run per point) and the comparison wait for the first figures: they
  // would share the server's time with them.
  load(null).then(function () {
    loadCurve();
    return initCompare(function () { return page.chosen; }, function (c) {
      if (!zoomToFeature("grids", c.grid_code)) zoomToBox(c.bbox);
    }, function () { return page.community; });
  }).then(function (run) { page.compare = run; }).catch(function (err) { showStatus(M.error + ": " + err.message); });
}

el("stations-select").addEventListener("change", function (ev) { if (ev.target.value) load(ev.target.value); });
el("community-select").addEventListener("change", function (ev) { chooseCommunity(ev.target.value); });
document.querySelectorAll("input[name=cover]").forEach(function (r) {
  r.addEventListener("change", function () { page.showing = r.value === EXISTING ? EXISTING : "selected"; showView(); });
});

// Printing keeps the figures, map, tables and charts (dashboard.css hides the controls).
el("print").addEventListener("click", function () { window.print(); });

const logout = el("logout");
if (logout) {
  logout.addEventListener("click", function () {
    getJSON(cfg.urls.logout, { method: "POST" }).finally(function () { window.location.assign(cfg.urls.login); });
  });
}

// For tests and the console.
window.plannerDashboard = { map: map, page: page, load: load, chooseCommunity: chooseCommunity };
