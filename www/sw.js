// The service worker: keeps the app shell and the wasm package of one version for
// offline starts. A new version installs beside the old one and waits until the person
// accepts the update (the page then asks it to take over), so a running app never
// changes under its user.
importScripts("app-version.js");

const PREFIX = "phantom-sync-";
const CACHE = PREFIX + self.APP_VERSION;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) =>
    cache.addAll(self.APP_SHELL.map((url) => new Request(url, { cache: "reload" })))));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data?.type === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/network.json") {
    event.respondWith(networkFirst(request));
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // Every profile (`?profile=…`) runs the same shell.
    const cached = await cache.match(request, { ignoreSearch: request.mode === "navigate" });
    return cached ?? fetch(request);
  })());
});

/** The node list from the server when it answers, else the last one it gave. */
async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request);
    if (cached) return cached;
    throw error;
  }
}
