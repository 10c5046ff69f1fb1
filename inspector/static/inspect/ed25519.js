// Ed25519 verification: the browser's WebCrypto where it has Ed25519, else the bundled noble-ed25519
// (vendor/README.md says where it comes from). Both reject non-canonical signatures (S >= L).

let webCryptoWorks = null; // null: not probed yet

async function probeWebCrypto() {
  if (webCryptoWorks !== null) return webCryptoWorks;
  try {
    const subtle = globalThis.crypto && globalThis.crypto.subtle;
    // RFC 8032 test 1's public key; a browser without Ed25519 in WebCrypto throws on the import.
    const rfc8032 = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const raw = Uint8Array.from(rfc8032.match(/../g), (h) => parseInt(h, 16));
    webCryptoWorks = Boolean(subtle) && Boolean(await subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]));
  } catch {
    webCryptoWorks = false;
  }
  return webCryptoWorks;
}

let noble = null;

async function loadNoble() {
  if (noble) return noble;
  const [ed, hashes] = await Promise.all([
    import("./vendor/noble-ed25519/index.js"),
    import("./vendor/noble-hashes/sha2.js"),
  ]);
  // A synchronous SHA-512 so the library works without crypto.subtle (plain-http pages have none).
  ed.hashes.sha512 = hashes.sha512;
  noble = ed;
  return noble;
}

async function viaWebCrypto(publicKey, signature, message) {
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

async function viaNoble(publicKey, signature, message) {
  const ed = await loadNoble();
  try {
    // zip215: false is RFC 8032's strict reading, like libsodium on the server.
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false; // a malformed point is a bad signature, not an error
  }
}

/** Which implementation this browser uses: "webcrypto" or "noble". */
export async function implementation() {
  return (await probeWebCrypto()) ? "webcrypto" : "noble";
}

/** Returns {ok, impl}. `force` may be "webcrypto" or "noble" (tests run the vectors through both). */
export async function verifyEd25519(publicKey, signature, message, force) {
  const impl = force || (await implementation());
  if (impl === "webcrypto") {
    try {
      return { ok: await viaWebCrypto(publicKey, signature, message), impl };
    } catch {
      return { ok: false, impl };
    }
  }
  return { ok: await viaNoble(publicKey, signature, message), impl: "noble" };
}
