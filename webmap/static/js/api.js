// Requests to the REST API: JSON with its error message, URL templates from the page config.
import { cfg } from "./config.js";

export function getJSON(u, options) {
  return fetch(u, options).then(function (r) {
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

export function featuresUrl(name, params) {
  const q = Object.keys(params).map(function (k) { return k + "=" + encodeURIComponent(params[k]); }).join("&");
  return url(cfg.urls.features, { "__layer__": name }) + "?" + q;
}
