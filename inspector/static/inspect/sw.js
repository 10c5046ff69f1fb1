// The inspector app's service worker: the app shell and its assets come from the cache when the network
// is gone; the keyset is network-first with the cached copy as fallback. API calls are never cached.
const VERSION = "{{VERSION}}";
const CACHE = `tem-inspect-${VERSION}`;
const SHELL = "/inspect";
const PRECACHE = {{PRECACHE}};
const KEYSET = "/.well-known/tem-keys.json";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("tem-inspect-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request, cacheKey) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(cacheKey, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(cacheKey);
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { ignoreSearch: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && (url.pathname === "/inspect" || url.pathname === "/inspect/")) {
    event.respondWith(networkFirst(request, SHELL));
  } else if (url.pathname.startsWith("/inspect/assets/") || url.pathname === "/inspect/manifest.webmanifest") {
    event.respondWith(cacheFirst(request));
  } else if (url.pathname === KEYSET) {
    event.respondWith(networkFirst(request, KEYSET));
  }
  // everything else (the API, the login) goes to the network untouched
});
