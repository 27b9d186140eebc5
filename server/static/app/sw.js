// The field app's service worker: the app shell is served from the cache, so the app opens with
// no signal at all after the first visit; each start refreshes the whole shell for the next one. API calls are never cached here:
// the data lives in IndexedDB (db.js) and travels through the sync protocol (sync.js).
const CACHE = "dabiao-app-v1";
const SHELL = [
  "/app/", "/app/index.html", "/app/style.css", "/app/app.js", "/app/db.js", "/app/sync.js", "/app/rules.js",
  "/app/manifest.webmanifest", "/app/icon-192.png", "/app/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// Fill (or refresh) the cache with the whole shell at once: cache.addAll stores all of it or
// nothing, so a weak link after a deploy can never leave a new app.js beside an old sync.js.
const refreshShell = () =>
  caches.open(CACHE).then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: "no-cache" })))).catch(() => {});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/app/")) {
    return; // the API: straight to the network
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const cached = await cache.match(event.request, { ignoreSearch: true });
    if (event.request.mode === "navigate") event.waitUntil(refreshShell()); // for the next start
    if (cached) return cached;
    try {
      return await fetch(event.request);
    } catch {
      return (await cache.match("/app/index.html")) || Response.error();
    }
  })());
});
