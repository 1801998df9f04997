// Requests to the REST API: JSON with its error message, URL templates from the page config.
import { cfg } from "./config.js";

// State-changing requests carry the session's CSRF token; a session that has ended sends the
// page back to the login form.
export function getJSON(u, options) {
  const opts = Object.assign({ credentials: "same-origin" }, options || {});
  if (opts.method && opts.method !== "GET" && cfg.csrf_token) {
    opts.headers = Object.assign({}, opts.headers, { "X-CSRF-Token": cfg.csrf_token });
  }
  return fetch(u, opts).then(function (r) {
    if (r.status === 401 && cfg.user) window.location.assign(cfg.urls.login);
    return r.json().then(function (body) {
      if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
      return body;
    });
  });
}

// Fill a URL template of the page config ("__layer__", "__id__") with encoded values.
export function url(template, parts) {
  let u = template;
  Object.keys(parts).forEach(function (k) { u = u.replace(k, encodeURIComponent(parts[k])); });
  return u;
}

export function featureUrl(name, id) {
  return url(cfg.urls.feature, { "__layer__": name, "__id__": id });
}

// A map tile of a layer (z/x/y), with query parameters.
export function tileUrl(name, z, x, y, params) {
  const q = Object.keys(params).map(function (k) { return k + "=" + encodeURIComponent(params[k]); }).join("&");
  return url(cfg.urls.tile, { "__layer__": name, "__z__": z, "__x__": x, "__y__": y }) + (q ? "?" + q : "");
}

export function featuresUrl(name, params) {
  const q = Object.keys(params).map(function (k) { return k + "=" + encodeURIComponent(params[k]); }).join("&");
  return url(cfg.urls.features, { "__layer__": name }) + "?" + q;
}
