// The phone view's service worker (served as /m/sw.js, controlling the page /m). It keeps the
// page's shell (the page, Leaflet, its scripts and styles, the manifest) and the layers of the
// areas seen, so that a field worker walking through a dead spot still has the last area:
// - the page and its data: the network first, the copy kept when there is no connection
//   (for a layer never seen in this box, the last box seen of that layer);
// - static files: the copy kept, refreshed in the background;
// - nothing else (logins, the nearest-station answers, other pages) is kept.
// Logging out deletes these caches and unregisters the worker (phone.js, and the server's
// Clear-Site-Data header).
"use strict";

const SHELL = "planner-m-shell-v1";
const DATA = "planner-m-data-v1";
const LAST = "/m/__last__/";
// Viewport answers kept (the oldest written go first): a few days of walking a community.
const MAX_DATA = 400;

self.addEventListener("install", function () { self.skipWaiting(); });

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) {
      return n.indexOf("planner-m") === 0 && n !== SHELL && n !== DATA;
    }).map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

function layerOf(url) {
  const m = /\/api\/layers\/([^/]+)\/features$/.exec(url.pathname);
  return m ? m[1] : null;
}

function isData(url) { return layerOf(url) !== null; }

function isShell(url) {
  return url.pathname === "/m" || url.pathname === "/m/manifest.webmanifest" ||
    url.pathname.indexOf("/static/") === 0;
}

// The page asks to keep what it loaded before the worker took it over.
self.addEventListener("message", function (event) {
  const data = event.data || {};
  if (data.type !== "keep" || !Array.isArray(data.urls)) return;
  event.waitUntil(Promise.all(data.urls.map(function (u) {
    const url = new URL(u, self.location.origin);
    if (url.origin !== self.location.origin || !(isShell(url) || isData(url))) return null;
    return fetch(url.href, { credentials: "same-origin" }).then(function (response) {
      return store(url, response);
    }).catch(function () {});
  })));
});

function store(url, response) {
  if (!response || !response.ok) return response;
  const name = isData(url) ? DATA : SHELL;
  const copy = response.clone();
  const jobs = [caches.open(name).then(function (c) { return c.put(url.href, copy); })];
  if (isData(url)) {
    const last = response.clone();
    jobs.push(caches.open(DATA).then(function (c) { return c.put(LAST + layerOf(url), last); }));
  }
  if (isData(url)) jobs.push(trim());
  return Promise.all(jobs).then(function () { return response; });
}

function trim() {
  return caches.open(DATA).then(function (c) {
    return c.keys().then(function (keys) {
      const views = keys.filter(function (r) { return r.url.indexOf(LAST) < 0; });
      return Promise.all(views.slice(0, Math.max(0, views.length - MAX_DATA)).map(function (r) {
        return c.delete(r);
      }));
    });
  });
}

function offline(response) {
  // Tell the page the answer is a kept copy.
  const headers = new Headers(response.headers);
  headers.set("X-Planner-Offline", "1");
  return response.blob().then(function (body) {
    return new Response(body, { status: response.status, statusText: response.statusText, headers: headers });
  });
}

function fromNetwork(request, url) {
  return fetch(request).then(function (response) { return store(url, response); });
}

self.addEventListener("fetch", function (event) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/m") {
    event.respondWith(fromNetwork(request, new URL("/m", url)).catch(function () {
      return caches.match("/m", { ignoreSearch: true }).then(function (hit) {
        return hit ? offline(hit) : Response.error();
      });
    }));
    return;
  }
  if (isData(url)) {
    event.respondWith(fromNetwork(request, url).catch(function () {
      return caches.open(DATA).then(function (c) {
        return c.match(url.href).then(function (hit) { return hit || c.match(LAST + layerOf(url)); });
      }).then(function (hit) { return hit ? offline(hit) : Response.error(); });
    }));
    return;
  }
  if (isShell(url)) {
    event.respondWith(caches.match(url.href).then(function (hit) {
      const fresh = fromNetwork(request, url);
      if (hit) {
        fresh.catch(function () {});
        return hit;
      }
      return fresh;
    }));
  }
});
