// The TEM1 stamp format in the browser: parse a stamp URI, read the public keyset, check a signature.
// A port of crypto/stamp.py, crypto/keyset.py and crypto/verify.py; docs/stamp-format.md is the contract.
// tests/vectors/cases.json runs through this file in the browser tests (tests/test_inspector_browser.py).

import { verifyEd25519 } from "./ed25519.js";

export const MAX_URI_LENGTH = 2048;
const URI_CHARS = /^[\x21-\x7e]*$/;
const DIGITS = /^[0-9]+$/;
const KID = /^[A-Z0-9]{1,8}$/;
const B32 = /^[A-Z2-7]+$/;
const AI_VALUE = /^[\x21-\x7e]{1,20}$/;
const B32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export class StampFormatError extends Error {}

function fail(message) {
  throw new StampFormatError(message);
}

export function checkDigit(body) {
  let total = 0;
  for (let i = 0; i < body.length; i++) {
    const digit = body.charCodeAt(body.length - 1 - i) - 48;
    total += digit * (i % 2 === 0 ? 3 : 1);
  }
  return (10 - (total % 10)) % 10;
}

export function normalizeGtin(text) {
  if (!text) fail("GTIN is empty");
  if (!DIGITS.test(text)) fail("GTIN must contain only the digits 0-9");
  if (![8, 12, 13, 14].includes(text.length)) fail(`GTIN must be 8, 12, 13 or 14 digits, got ${text.length}`);
  const gtin = text.padStart(14, "0");
  if (checkDigit(gtin.slice(0, 13)) !== Number(gtin[13])) fail("GTIN check digit is wrong");
  return gtin;
}

function parseSerial(text) {
  if (!DIGITS.test(text)) fail("serial must contain only the digits 0-9");
  if (text.length > 20) fail("serial must be at most 20 digits");
  if (text[0] === "0") fail("serial must not start with 0");
  return text; // kept as text: 20-digit serials do not fit a JavaScript number
}

function checkKid(kid) {
  if (!KID.test(kid)) fail("key id must be 1 to 8 characters A-Z or 0-9");
  return kid;
}

// Python's urllib.parse.unquote(errors="strict"): %XX becomes a byte, a stray % stays, UTF-8 must be valid.
function unquote(text, what) {
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return fail(`${what} is not valid percent-encoded UTF-8`);
  }
}

function aiValue(raw, what) {
  const value = unquote(raw, what);
  if (!AI_VALUE.test(value)) fail(`${what} must be 1 to 20 printable ASCII characters`);
  return value;
}

export function decodeSignature(text) {
  if (!text) fail("signature is empty");
  if (!B32.test(text)) fail("signature is not valid base32 (only upper-case A-Z and digits 2-7 allowed)");
  if (text.length !== 103) fail("signature must be 64 bytes (103 base32 characters)");
  const out = new Uint8Array(64);
  let buffer = 0;
  let bits = 0;
  let n = 0;
  for (const ch of text) {
    buffer = (buffer << 5) | B32_ALPHABET.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (buffer >> bits) & 0xff;
    }
    buffer &= (1 << bits) - 1;
  }
  if (buffer !== 0) fail("signature is not canonical base32 (unused trailing bits are not zero)");
  return out;
}

function parsePath(path) {
  if (!path.startsWith("/")) fail("stamp path must start with '/'");
  const segs = path.split("/");
  let i = segs.length - 2;
  if (i < 3 || segs[i] !== "21") fail("stamp path must end with /21/{serial}");
  const serial = parseSerial(segs[i + 1]);
  let lot = null;
  const extras = [];
  if (i - 2 >= 3 && segs[i - 2] === "10") {
    lot = aiValue(segs[i - 1], "lot (AI 10)");
    i -= 2;
  }
  if (i - 2 >= 3 && segs[i - 2] === "22") {
    extras.push(["22", aiValue(segs[i - 1], "CPV (AI 22)")]);
    i -= 2;
  }
  if (segs[i - 2] !== "01") fail("stamp path must have /01/{gtin} before the serial");
  return { gtin: normalizeGtin(segs[i - 1]), serial, lot, extras };
}

function parseQuery(query, extras) {
  let kid = null;
  let sig = null;
  for (const part of query.split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (key === "k") {
      if (kid !== null) fail("stamp URI has more than one 'k' (key id) query parameter");
      kid = checkKid(value);
    } else if (key === "s") {
      if (sig !== null) fail("stamp URI has more than one 's' (signature) query parameter");
      sig = value;
    } else {
      const name = unquote(key, "query parameter name");
      if (name === "" || name === "k" || name === "s") fail("stamp URI has a query parameter with a bad name");
      extras.push([name, unquote(value, "query parameter")]);
    }
  }
  if (kid === null) fail("stamp URI has no 'k' (key id) query parameter");
  if (sig === null) fail("stamp URI has no 's' (signature) query parameter");
  return { kid, signature: decodeSignature(sig) };
}

/** Parse a stamp URI: scheme and host in any case, any base path. Throws StampFormatError. */
export function parseStampUri(uri) {
  if (typeof uri !== "string") fail("stamp URI must be text");
  const text = uri.trim();
  if (text.length > MAX_URI_LENGTH) fail("stamp URI is too long");
  if (!URI_CHARS.test(text)) fail("stamp URI contains spaces or non-ASCII characters");
  const sep = text.indexOf("://");
  if (sep < 0 || !["http", "https"].includes(text.slice(0, sep).toLowerCase())) {
    fail("stamp URI must start with http:// or https://");
  }
  const rest = text.slice(sep + 3);
  if (rest.includes("#")) fail("stamp URI must not contain a '#' fragment");
  const q = rest.indexOf("?");
  const beforeQuery = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? "" : rest.slice(q + 1);
  const slash = beforeQuery.indexOf("/");
  const authority = slash < 0 ? beforeQuery : beforeQuery.slice(0, slash);
  const path = slash < 0 ? "" : beforeQuery.slice(slash);
  if (!authority) fail("stamp URI has no host");
  const parsed = parsePath(path);
  const { kid, signature } = parseQuery(query, parsed.extras);
  return { ...parsed, kid, signature };
}

/** The exact bytes that are signed: TEM1|{kid}|{gtin14}|{serial}. */
export function signingMessage(stamp) {
  return new TextEncoder().encode(`TEM1|${stamp.kid}|${stamp.gtin}|${stamp.serial}`);
}

function b64urlDecode(text) {
  if (typeof text !== "string" || text.length !== 43 || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=");
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  // Canonical: the 2 unused low bits of the last character are zero.
  const back = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return back === text && bytes.length === 32 ? bytes : null;
}

/** {kid: {x: Uint8Array, status}} from the keyset document; a bad entry is an error, as on the server. */
export function parseKeyset(doc) {
  if (!doc || !Array.isArray(doc.keys)) throw new Error("keyset document must be an object with a 'keys' list");
  const keys = {};
  for (const jwk of doc.keys) {
    if (!jwk || typeof jwk !== "object") throw new Error("each key must be a JSON object");
    const kid = jwk.kid;
    if (typeof kid !== "string" || !KID.test(kid)) throw new Error("JWK kid must be 1 to 8 characters A-Z or 0-9");
    if ("d" in jwk) throw new Error(`JWK ${kid} contains a private key; refusing it`);
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519") throw new Error(`JWK ${kid} must be an OKP Ed25519 key`);
    if ("alg" in jwk && jwk.alg !== "EdDSA") throw new Error(`JWK ${kid} must have alg 'EdDSA' if present`);
    const x = b64urlDecode(jwk.x);
    if (!x) throw new Error(`JWK ${kid}: x must be unpadded base64url of 32 bytes`);
    if (!["active", "retired", "revoked"].includes(jwk.status)) throw new Error(`JWK ${kid}: bad status`);
    if (kid in keys) throw new Error(`key id ${kid} appears more than once`);
    keys[kid] = { x, status: jwk.status };
  }
  return keys;
}

/**
 * Check a parsed stamp against parsed keys. Returns {status, impl}: status is valid, bad_signature,
 * unknown_key or key_revoked (signature first, revocation second, as docs/stamp-format.md section 7 says).
 * `impl` is "webcrypto" or "noble"; pass {impl: "noble"} to force the bundled library.
 */
export async function verifyStamp(stamp, keys, options = {}) {
  const key = keys[stamp.kid];
  if (!key) return { status: "unknown_key", impl: null };
  const { ok, impl } = await verifyEd25519(key.x, stamp.signature, signingMessage(stamp), options.impl);
  if (!ok) return { status: "bad_signature", impl };
  return { status: key.status === "revoked" ? "key_revoked" : "valid", impl };
}
