// The inspector app: keyboard-wedge and camera scans, an instant offline verdict from the cached keyset,
// the live state when online, and inspection records queued on the device until they sync.
// Everything shown from the server or a scan goes through textContent: nothing is parsed as HTML.

import { parseKeyset, parseStampUri, verifyStamp } from "./stamp.js";
import { implementation } from "./ed25519.js";
import { decodeImageData, decoderName, startCamera } from "./scanner.js";

const STORE = {
  keyset: "tem.inspect.keyset",
  queue: "tem.inspect.queue",
  rejected: "tem.inspect.rejected",
  me: "tem.inspect.me",
  lang: "tem.inspect.lang",
  lastSync: "tem.inspect.last_sync",
};
const KEYSET_URL = "/.well-known/tem-keys.json";
const KEYSET_REFRESH_MS = 10 * 60 * 1000;
const SYNC_EVERY_MS = 20 * 1000;
const CSRF = { "X-Tem-Inspect": "1" };

const WORDS = {
  en: {
    title: "Tem inspector",
    login_title: "Log in",
    login_help: "Enter your inspector token once. This device then keeps a session until it expires.",
    token: "Inspector token",
    login: "Log in",
    logout: "Log out",
    language: "Language",
    scan_label: "Scan or type a stamp code, then Enter",
    scan_placeholder: "Scan a stamp…",
    camera: "Camera",
    close: "Close",
    ready: "ready",
    ready_sub: "Scan a stamp with the handheld or the camera.",
    online: "online",
    offline: "offline",
    pending: "to sync",
    genuine: "genuine",
    suspect: "suspect",
    counterfeit: "counterfeit",
    unknown: "unknown",
    seized: "seized",
    sig_valid: "signature valid",
    status_unknown_offline: "status unknown (offline)",
    checking: "signature valid — checking the live status…",
    forged: "forged: the signature does not match this stamp",
    key_revoked: "the key that signed this stamp has been revoked",
    unknown_key: "the signing key is not in this device's keyset; connect to refresh it",
    no_keyset: "no keyset on this device yet: connect once to download it",
    format_error: "this code is not a valid TEM stamp",
    state_activated: "active on a lot",
    state_not_activated: "issued but never assigned to a lot",
    state_unknown_serial: "this serial was never issued",
    state_revoked: "revoked",
    state_key_revoked: "the signing key has been revoked",
    state_forged: "forged: the signature does not match this stamp",
    state_format_error: "this code is not a valid TEM stamp",
    alert_changes: "an open alert on this stamp changes the verdict",
    product: "Product",
    gtin: "GTIN",
    serial: "Serial",
    lot: "Lot",
    packing_house: "Packing house",
    harvest: "Harvest",
    destinations: "Destinations",
    history: "Scan history",
    checked: (n, devices) => `checked ${n} time${n === 1 ? "" : "s"} from ${devices} device${devices === 1 ? "" : "s"}`,
    first: "first",
    alerts: "Open alerts",
    no_alerts: "none",
    record: "Record the inspection",
    result: "Result",
    note: "Note",
    save: "Save inspection",
    saved_queued: "Saved on this device; it will sync when the connection returns.",
    saved_synced: "Saved and synced.",
    rejected: "Refused by the server",
    session_expired: "The session has expired: log in again to sync.",
    keys_updated: "keys",
    never: "never",
    offline_login: "You are offline: logging in needs a connection.",
    login_401: "The token is unknown or has been revoked.",
    login_403: "The inspector app is for inspectors and ministry staff.",
    login_422: "Paste the whole token.",
    login_failed: "Could not log in (error {status}). Try again later.",
    camera_error: "The camera cannot be used: ",
    decoder: "decoder",
    where: "at",
    claimed: "claimed",
    role_consumer: "consumer",
    role_inspector: "inspector",
    last_sync: (n, at) => `last sync ${at}: ${n} record${n === 1 ? "" : "s"} sent`,
  },
  vi: {
    title: "Tem kiểm tra",
    login_title: "Đăng nhập",
    login_help: "Nhập mã token của cán bộ một lần. Thiết bị giữ phiên đăng nhập đến khi hết hạn.",
    token: "Token cán bộ",
    login: "Đăng nhập",
    logout: "Đăng xuất",
    language: "Ngôn ngữ",
    scan_label: "Quét hoặc nhập mã tem, rồi nhấn Enter",
    scan_placeholder: "Quét mã tem…",
    camera: "Máy ảnh",
    close: "Đóng",
    ready: "sẵn sàng",
    ready_sub: "Quét tem bằng máy quét cầm tay hoặc máy ảnh.",
    online: "trực tuyến",
    offline: "ngoại tuyến",
    pending: "chờ đồng bộ",
    genuine: "hàng thật",
    suspect: "nghi ngờ",
    counterfeit: "hàng giả",
    unknown: "chưa rõ",
    seized: "tạm giữ",
    sig_valid: "chữ ký hợp lệ",
    status_unknown_offline: "chưa rõ trạng thái (ngoại tuyến)",
    checking: "chữ ký hợp lệ — đang kiểm tra trạng thái…",
    forged: "giả mạo: chữ ký không khớp với tem",
    key_revoked: "khóa ký của tem đã bị thu hồi",
    unknown_key: "khóa ký không có trong bộ khóa của thiết bị; hãy kết nối để cập nhật",
    no_keyset: "thiết bị chưa có bộ khóa: hãy kết nối một lần để tải về",
    format_error: "mã này không phải tem TEM hợp lệ",
    state_activated: "đang được gắn với một lô hàng",
    state_not_activated: "đã phát hành nhưng chưa gắn với lô hàng nào",
    state_unknown_serial: "số sê-ri này chưa từng được phát hành",
    state_revoked: "đã bị thu hồi",
    state_key_revoked: "khóa ký đã bị thu hồi",
    state_forged: "giả mạo: chữ ký không khớp với tem",
    state_format_error: "mã này không phải tem TEM hợp lệ",
    alert_changes: "một cảnh báo đang mở về tem này làm thay đổi kết luận",
    product: "Sản phẩm",
    gtin: "GTIN",
    serial: "Số sê-ri",
    lot: "Lô hàng",
    packing_house: "Cơ sở đóng gói",
    harvest: "Thu hoạch",
    destinations: "Thị trường",
    history: "Lịch sử quét",
    checked: (n, devices) => `đã kiểm tra ${n} lần từ ${devices} thiết bị`,
    first: "lần đầu",
    alerts: "Cảnh báo đang mở",
    no_alerts: "không có",
    record: "Ghi biên bản kiểm tra",
    result: "Kết quả",
    note: "Ghi chú",
    save: "Lưu biên bản",
    saved_queued: "Đã lưu trên thiết bị; sẽ đồng bộ khi có kết nối.",
    saved_synced: "Đã lưu và đồng bộ.",
    rejected: "Máy chủ từ chối",
    session_expired: "Phiên đăng nhập đã hết hạn: hãy đăng nhập lại để đồng bộ.",
    keys_updated: "khóa",
    never: "chưa",
    offline_login: "Đang ngoại tuyến: cần kết nối để đăng nhập.",
    login_401: "Mã truy cập không đúng hoặc đã bị thu hồi.",
    login_403: "Ứng dụng này dành cho cán bộ kiểm tra và cán bộ của Bộ.",
    login_422: "Hãy dán đầy đủ mã truy cập.",
    login_failed: "Không đăng nhập được (lỗi {status}). Vui lòng thử lại sau.",
    camera_error: "Không dùng được máy ảnh: ",
    decoder: "bộ giải mã",
    where: "tại",
    claimed: "khai là",
    role_consumer: "người tiêu dùng",
    role_inspector: "cán bộ kiểm tra",
    last_sync: (n, at) => `đồng bộ lần cuối ${at}: đã gửi ${n} biên bản`,
  },
};

const $ = (id) => document.getElementById(id);

const state = {
  lang: "en",
  me: readJson(STORE.me, null),
  keyset: readJson(STORE.keyset, null), // {fetched_at, doc}
  keys: null,
  position: null,
  current: null, // the scan on screen: {uri, verdict, source, scanId, at, position}
  syncing: false,
  stopCamera: null,
};
state.lang = localStorage.getItem(STORE.lang) || ((navigator.language || "en").toLowerCase().startsWith("vi") ? "vi" : "en");

function t(key, ...args) {
  const value = WORDS[state.lang][key] ?? WORDS.en[key] ?? key;
  return typeof value === "function" ? value(...args) : value;
}

function readJson(name, fallback) {
  try {
    const raw = localStorage.getItem(name);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

function writeJson(name, value) {
  localStorage.setItem(name, JSON.stringify(value));
}

function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(state.lang === "vi" ? "vi-VN" : "en-GB", { dateStyle: "short", timeStyle: "short" });
}

// Static words

function applyWords() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("scan").placeholder = t("scan_placeholder");
  $("lang").textContent = state.lang === "vi" ? "EN" : "VI";
  $("lang").setAttribute("aria-label", `${t("language")}: ${$("lang").textContent}`); // the visible code is in its name
  for (const button of document.querySelectorAll("[data-result]")) button.textContent = t(button.dataset.result);
  showNetwork();
  showKeys();
  showPending();
  if (state.current) renderCurrent();
}

// Network, keyset, pending count

function online() {
  return navigator.onLine !== false;
}

function showNetwork() {
  const net = $("net");
  net.textContent = online() ? t("online") : t("offline");
  net.className = online() ? "net on" : "net off";
}

function showKeys() {
  const fetched = state.keyset && state.keyset.fetched_at;
  $("keys").textContent = `${t("keys_updated")}: ${fetched ? when(fetched) : t("never")}`;
}

function loadKeys() {
  state.keys = null;
  if (!state.keyset) return;
  try {
    state.keys = parseKeyset(state.keyset.doc);
  } catch {
    state.keys = null;
  }
}

async function refreshKeyset() {
  if (!online()) return false;
  try {
    const response = await fetch(KEYSET_URL, { cache: "no-cache" });
    if (!response.ok) return false;
    const doc = await response.json();
    parseKeyset(doc); // refuse a document that does not parse, keep the old one
    state.keyset = { fetched_at: new Date().toISOString(), doc };
    writeJson(STORE.keyset, state.keyset);
    loadKeys();
    showKeys();
    return true;
  } catch {
    return false;
  }
}

function queue() {
  return readJson(STORE.queue, []);
}

function mine(records) {
  const id = state.me ? state.me.inspector_id : null;
  return records.filter((r) => id === null || r.owner === id);
}

function showPending() {
  const all = queue();
  const own = mine(all);
  $("pending").textContent = String(own.length);
  const others = all.length - own.length;
  $("others").textContent = others > 0 ? `(+${others})` : "";
  const last = readJson(STORE.lastSync, null);
  $("sync-status").textContent = last ? t("last_sync", last.sent, when(last.at)) : "";
  const rejected = readJson(STORE.rejected, []);
  const list = $("rejected");
  list.replaceChildren();
  for (const item of rejected.slice(-5)) {
    list.append(el("li", `${t("rejected")}: ${item.error} — ${item.record.uri.slice(0, 60)}`));
  }
}

// Session

const REQUEST_TIMEOUT_MS = 8000; // a market hall's "online" can be one bar that never answers

async function api(path, options = {}) {
  const timeout = globalThis.AbortSignal && AbortSignal.timeout ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : undefined;
  const response = await fetch(path, {
    credentials: "same-origin",
    signal: timeout,
    ...options,
    headers: { Accept: "application/json", ...CSRF, ...(options.headers || {}) },
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

function showView() {
  const logged = Boolean(state.me);
  $("login-view").hidden = logged;
  $("scan-view").hidden = !logged;
  $("logout").hidden = !logged;
  $("who").textContent = logged ? `${state.me.name} · ${state.me.organisation}` : "";
  if (logged) $("scan").focus();
  else $("token").focus();
  showPending();
}

async function checkSession() {
  if (!online()) return; // offline: trust the remembered login until the server says otherwise
  try {
    const { status, body } = await api("/inspect/me");
    if (status === 200) {
      state.me = body;
      writeJson(STORE.me, body);
    } else if (status === 401) {
      state.me = null;
      localStorage.removeItem(STORE.me);
    }
  } catch {
    // the network failed after all: keep what we have
  }
  showView();
}

async function login(event) {
  event.preventDefault();
  const error = $("login-error");
  error.textContent = "";
  if (!online()) {
    error.textContent = t("offline_login");
    return;
  }
  const token = $("token").value.trim();
  try {
    const { status, body } = await api("/inspect/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    if (status !== 200) {
      // The server's message is English: the page says it in the app's language.
      const known = { 401: "login_401", 403: "login_403", 422: "login_422" }[status];
      error.textContent = known ? t(known) : t("login_failed").replace("{status}", String(status));
      return;
    }
    $("token").value = "";
    state.me = body;
    writeJson(STORE.me, body);
    showView();
    watchPosition();
    refreshKeyset();
    sync();
  } catch {
    error.textContent = t("offline_login");
  }
}

async function logout() {
  try {
    await api("/inspect/logout", { method: "POST" });
  } catch {
    // offline: the cookie is cleared by the server next time; forget the login here anyway
  }
  state.me = null;
  state.current = null;
  localStorage.removeItem(STORE.me);
  resetVerdict();
  showView();
}

// Position

function watchPosition() {
  if (!("geolocation" in navigator) || state.watching) return;
  state.watching = true;
  navigator.geolocation.watchPosition(
    (pos) => {
      state.position = {
        latitude: Number(pos.coords.latitude.toFixed(6)),
        longitude: Number(pos.coords.longitude.toFixed(6)),
        accuracy_m: Math.max(1, Math.round(pos.coords.accuracy || 100)),
      };
    },
    () => {
      state.position = null;
    },
    { enableHighAccuracy: true, maximumAge: 60000, timeout: 20000 },
  );
}

// Scanning

function resetVerdict() {
  const box = $("verdict");
  box.className = "verdict idle";
  $("verdict-word").textContent = t("ready");
  $("verdict-key").textContent = "";
  $("verdict-sub").textContent = t("ready_sub");
  $("details").replaceChildren();
  $("record-form").hidden = true;
}

async function offlineCheck(uri) {
  let stamp;
  try {
    stamp = parseStampUri(uri);
  } catch (exc) {
    return { stamp: null, status: "format_error", reason: exc.message };
  }
  if (!state.keys) return { stamp, status: "no_keyset" };
  const { status } = await verifyStamp(stamp, state.keys);
  return { stamp, status };
}

function offlineVerdict(status, checkingLive) {
  switch (status) {
    case "valid":
      return checkingLive
        ? { verdict: "unknown", css: "offline", word: t("sig_valid"), sub: t("checking") }
        : { verdict: "unknown", css: "offline", word: t("sig_valid"), sub: t("status_unknown_offline") };
    case "bad_signature":
      return { verdict: "counterfeit", word: t("counterfeit"), sub: t("forged") };
    case "key_revoked":
      return { verdict: "counterfeit", word: t("counterfeit"), sub: t("key_revoked") };
    case "unknown_key":
      return { verdict: "unknown", word: t("unknown"), sub: t("unknown_key") };
    case "no_keyset":
      return { verdict: "unknown", word: t("unknown"), sub: t("no_keyset") };
    default:
      return { verdict: "unknown", word: t("unknown"), sub: t("format_error") };
  }
}

function onlineVerdict(live) {
  let sub = t(`state_${live.state}`);
  if (live.state === "revoked" && live.reason) sub = `${sub}: ${live.reason.replace(/^the stamp has been revoked:\s*/, "")}`;
  if (live.reason && live.reason.includes("open alert")) sub = `${sub} · ${t("alert_changes")}`;
  return { verdict: live.verdict, word: t(live.verdict), sub };
}

function renderCurrent() {
  const current = state.current;
  const shown = current.live ? onlineVerdict(current.live) : offlineVerdict(current.offline, current.checking);
  current.verdict = shown.verdict;
  const box = $("verdict");
  box.className = `verdict ${shown.css || shown.verdict}`;
  box.dataset.verdict = shown.verdict;
  $("verdict-word").textContent = shown.word;
  // The English keyword stays on the element in every language, for people and tests alike.
  $("verdict-key").textContent = state.lang === "en" ? "" : shown.verdict;
  $("verdict-sub").textContent = shown.sub;
  renderDetails(current);
  const form = $("record-form");
  form.hidden = false;
  const preset = { genuine: "genuine", counterfeit: "counterfeit" }[current.verdict] || "suspect";
  if (!current.resultChosen) selectResult(preset);
}

function row(list, label, value) {
  if (value === null || value === undefined || value === "") return;
  list.append(el("dt", label), el("dd", value));
}

function renderDetails(current) {
  const details = $("details");
  details.replaceChildren();
  const live = current.live;
  const stamp = current.stamp;
  const facts = el("dl");
  // A forged stamp only claims a product and a packing house: say so.
  const claimed = live && live.state === "forged" ? ` (${t("claimed")})` : "";
  if (live && live.product) {
    const name = state.lang === "vi" ? live.product.name_vi : live.product.name_en;
    row(facts, t("product") + claimed, live.product.variety ? `${name} (${live.product.variety})` : name);
  }
  row(facts, t("gtin"), (live && live.gtin) || (stamp && stamp.gtin));
  row(facts, t("serial"), (live && live.serial) || (stamp && stamp.serial));
  if (live && live.lot) {
    row(facts, t("lot"), live.lot.code);
    row(facts, t("harvest"), live.lot.harvest_dates.join(", "));
    row(facts, t("destinations"), live.lot.destination_markets.join(", "));
  } else if (stamp && stamp.lot) {
    row(facts, t("lot"), stamp.lot);
  }
  if (live && live.packing_house) {
    const house = live.packing_house;
    row(facts, t("packing_house") + claimed, `${house.name} · ${house.code} · ${house.province}`);
  }
  details.append(facts);
  if (live && live.history) {
    const section = el("section", null, "history");
    section.append(el("h2", t("history")));
    const h = live.history;
    let line = t("checked", h.count, h.devices);
    if (h.first_at) line += ` · ${t("first")} ${when(h.first_at)}`;
    if (h.first_place) line += ` ${t("where")} ${h.first_place.label}`;
    section.append(el("p", line));
    const list = el("ol");
    for (const scan of h.recent_scans.slice(0, 5)) {
      const place = scan.place ? ` · ${scan.place.label}` : "";
      list.append(el("li", `${when(scan.at)} · ${t(`role_${scan.role}`)} · ${t(scan.verdict)}${place}`));
    }
    if (list.children.length) section.append(list);
    details.append(section);
  }
  if (live) {
    const section = el("section", null, "alerts");
    section.append(el("h2", t("alerts")));
    if (!live.alerts.length) section.append(el("p", t("no_alerts"), "muted"));
    const list = el("ul");
    for (const alert of live.alerts) {
      const item = el("li", null, `alert ${alert.severity}`);
      item.append(el("strong", `${alert.severity} · ${alert.type} ×${alert.count}`));
      item.append(el("span", ` ${state.lang === "vi" ? alert.explanation_vi : alert.explanation_en}`));
      list.append(item);
    }
    if (list.children.length) section.append(list);
    details.append(section);
  }
}

async function handleScan(text) {
  const uri = text.trim();
  if (!uri) return;
  const position = state.position;
  const current = {
    uri,
    at: new Date().toISOString(),
    position,
    stamp: null,
    offline: null,
    live: null,
    checking: online(),
    scanId: null,
    resultChosen: false,
  };
  state.current = current;
  $("record-status").textContent = "";
  $("note").value = "";
  const local = await offlineCheck(uri);
  current.stamp = local.stamp;
  current.offline = local.status;
  if (local.status !== "valid") current.checking = false;
  renderCurrent();
  if (!online() || local.status === "format_error") return;
  const query = new URLSearchParams({ uri });
  if (position) {
    query.set("lat", position.latitude);
    query.set("lon", position.longitude);
    query.set("accuracy", position.accuracy_m);
  }
  try {
    const { status, body } = await api(`/api/v1/stamps/verify?${query}`);
    if (state.current !== current) return; // a newer scan took over
    if (status === 200) {
      current.live = body;
      current.scanId = body.scan_id;
      if (body.signature === "unknown_key" || (local.status === "unknown_key" && body.signature === "valid")) {
        refreshKeyset();
      }
    } else if (status === 401) {
      $("record-status").textContent = t("session_expired");
    }
  } catch {
    // offline after all: the signature verdict stands
  }
  current.checking = false;
  if (state.current === current) renderCurrent();
}

function selectResult(value) {
  for (const button of document.querySelectorAll("[data-result]")) {
    button.setAttribute("aria-pressed", String(button.dataset.result === value));
  }
  $("record-form").dataset.result = value;
}

async function saveInspection(event) {
  event.preventDefault();
  const current = state.current;
  if (!current || !state.me) return;
  const position = current.position || state.position;
  const record = {
    client_id: newId(),
    owner: state.me.inspector_id,
    uri: current.uri,
    result: $("record-form").dataset.result || "suspect",
    verdict: current.verdict,
    verdict_source: current.live ? "online" : "offline",
    note: $("note").value.trim() || null,
    latitude: position ? position.latitude : null,
    longitude: position ? position.longitude : null,
    accuracy_m: position ? position.accuracy_m : null,
    inspected_at: current.at,
    scan_id: current.scanId || null,
  };
  const records = queue();
  records.push(record);
  writeJson(STORE.queue, records);
  showPending();
  $("record-form").hidden = true;
  $("record-status").textContent = t("saved_queued");
  const synced = await sync();
  if (synced && !queue().some((r) => r.client_id === record.client_id)) {
    $("record-status").textContent = t("saved_synced");
  }
  $("scan").focus();
}

// Sync: each record carries its own idempotency key, so a retry after a lost answer never duplicates.

async function sync() {
  if (state.syncing || !state.me || !online()) return false;
  state.syncing = true;
  let sent = 0;
  try {
    for (const record of mine(queue())) {
      const { owner, ...body } = record;
      let answer;
      try {
        answer = await api("/api/v1/inspections", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": record.client_id },
          body: JSON.stringify(body),
        });
      } catch {
        break; // the network is gone again; the rest waits
      }
      if (answer.status === 200 || answer.status === 201) {
        drop(record.client_id);
        sent += 1;
      } else if (answer.status === 401) {
        $("record-status").textContent = t("session_expired");
        break;
      } else if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) {
        const message = (answer.body && answer.body.error && answer.body.error.message) || `error ${answer.status}`;
        const rejected = readJson(STORE.rejected, []);
        rejected.push({ record, error: message });
        writeJson(STORE.rejected, rejected.slice(-50));
        drop(record.client_id);
      } else {
        break; // the server is struggling; try again later
      }
    }
  } finally {
    state.syncing = false;
    if (sent > 0) writeJson(STORE.lastSync, { at: new Date().toISOString(), sent });
    showPending();
  }
  return sent > 0;
}

function drop(clientId) {
  writeJson(
    STORE.queue,
    queue().filter((r) => r.client_id !== clientId),
  );
}

// Camera

async function openCamera() {
  const view = $("camera-view");
  $("camera-error").textContent = "";
  view.hidden = false;
  try {
    state.stopCamera = await startCamera($("video"), $("frame"), (code) => {
      closeCamera();
      handleScan(code);
    });
    $("decoder").textContent = `${t("decoder")}: ${await decoderName()}`;
  } catch (exc) {
    $("camera-error").textContent = t("camera_error") + (exc && exc.message ? exc.message : String(exc));
  }
}

function closeCamera() {
  if (state.stopCamera) state.stopCamera();
  state.stopCamera = null;
  $("camera-view").hidden = true;
  $("scan").focus();
}

// Wiring

function boot() {
  loadKeys();
  applyWords();
  resetVerdict();
  showView();
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "vi" ? "en" : "vi";
    localStorage.setItem(STORE.lang, state.lang);
    applyWords();
  });
  $("scan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("scan");
    const text = input.value;
    input.value = "";
    handleScan(text);
    input.focus();
  });
  $("camera").addEventListener("click", openCamera);
  $("camera-close").addEventListener("click", closeCamera);
  $("record-form").addEventListener("submit", saveInspection);
  for (const button of document.querySelectorAll("[data-result]")) {
    button.addEventListener("click", () => {
      if (state.current) state.current.resultChosen = true;
      selectResult(button.dataset.result);
    });
  }
  // A handheld scanner types into whatever has focus: send stray keystrokes to the scan field.
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
    if (!typing && state.me && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      $("scan").focus();
    }
  });
  window.addEventListener("online", () => {
    showNetwork();
    refreshKeyset();
    checkSession().then(sync);
  });
  window.addEventListener("offline", showNetwork);
  setInterval(sync, SYNC_EVERY_MS);
  setInterval(refreshKeyset, KEYSET_REFRESH_MS);
  if (state.me) watchPosition();
  refreshKeyset();
  checkSession().then(sync);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/inspect/sw.js", { scope: "/inspect" }).catch(() => {});
  }
  implementation().then((impl) => {
    document.body.dataset.ed25519 = impl;
  });
}

// For the browser tests and for people debugging on a device.
window.temInspect = { sync, refreshKeyset, decodeImageData, handleScan, state };

boot();
