// Pantau operators' dashboard: plain JavaScript, no external resources (works offline).
// The operator's token is entered once and kept in sessionStorage (this tab only). The live
// stream is read with fetch() streaming so the token travels in the Authorization header, never
// in a URL (EventSource cannot send headers).
"use strict";

const TOKEN_KEY = "pantau.token";
const LANG_KEY = "pantau.lang";
const SEVERITIES = ["critical", "high", "medium", "low"];
const STATUSES = ["open", "acknowledged", "resolved", "dismissed"];

// The page's own texts, each with its Bahasa Indonesia (`id`) and English (`en`) side by side (the
// shape of the rule titles below), so that no text is missing from one of the languages.
const I18N = {
  subtitle: { id: "Pemantauan layanan publik", en: "Public-service oversight" },
  live_title: { id: "Pembaruan langsung", en: "Live updates" },
  online: { id: "langsung", en: "live" },
  offline: { id: "luring", en: "offline" },
  logout: { id: "Keluar", en: "Sign out" },
  login_title: { id: "Masuk operator", en: "Operator sign-in" },
  login_help: {
    id: "Masukkan token operator Anda. Token disimpan hanya di tab ini (sessionStorage).",
    en: "Enter your operator token. It is kept only in this tab (sessionStorage).",
  },
  token: { id: "Token", en: "Token" },
  login: { id: "Masuk", en: "Sign in" },
  bad_token: { id: "Token tidak dikenal.", en: "Unknown token." },
  feed: { id: "Umpan peringatan", en: "Alert feed" },
  no_alerts: { id: "Belum ada peringatan.", en: "No alerts yet." },
  by_rule: { id: "Menurut aturan", en: "By rule" },
  sla_health: { id: "Kesehatan SLA layanan", en: "Service SLA health" },
  service: { id: "Layanan", en: "Service" },
  today: { id: "Hari ini", en: "Today" },
  this_month: { id: "Bulan ini", en: "This month" },
  ack: { id: "Tindak lanjuti", en: "Acknowledge" },
  resolve: { id: "Selesaikan", en: "Resolve" },
  dismiss: { id: "Abaikan", en: "Dismiss" },
  comment: { id: "Komentar", en: "Comment" },
  timeline: { id: "Linimasa kasus", en: "Case timeline" },
  no_case: { id: "Status kasus belum tersedia.", en: "No case state yet." },
  history: { id: "Riwayat tindakan", en: "Action history" },
  all_status: { id: "Semua status", en: "All statuses" },
  all_severity: { id: "Semua tingkat", en: "All severities" },
  open: { id: "terbuka", en: "open" },
  acknowledged: { id: "ditindaklanjuti", en: "acknowledged" },
  resolved: { id: "selesai", en: "resolved" },
  dismissed: { id: "diabaikan", en: "dismissed" },
  total_open: { id: "terbuka", en: "open" },
  low: { id: "rendah", en: "low" },
  medium: { id: "sedang", en: "medium" },
  high: { id: "tinggi", en: "high" },
  critical: { id: "kritis", en: "critical" },
  agency: { id: "Instansi", en: "Agency" },
  case: { id: "Kasus", en: "Case" },
  step: { id: "Langkah", en: "Step" },
  officer: { id: "Petugas", en: "Officer" },
  occurred: { id: "Terjadi", en: "Occurred" },
  detected: { id: "Terdeteksi", en: "Detected" },
  status: { id: "Status", en: "Status" },
  reason_prompt: { id: "Alasan mengabaikan:", en: "Reason for dismissing:" },
  comment_prompt: { id: "Komentar:", en: "Comment:" },
  cases: { id: "kasus", en: "cases" },
  breached: { id: "melewati SLA", en: "breached SLA" },
  no_cases: { id: "tidak ada kasus", en: "no cases" },
  on_time: { id: "tepat waktu", en: "on time" },
  late: { id: "terlambat", en: "late" },
  step_due: { id: "batas langkah", en: "step deadline" },
  case_due: { id: "batas kasus", en: "case deadline" },
  now: { id: "sekarang", en: "now" },
  pending: { id: "menunggu", en: "awaited" },
  by: { id: "oleh", en: "by" },
  deliveries: { id: "Pengiriman webhook", en: "Webhook deliveries" },
  no_steps: { id: "Belum ada langkah.", en: "No steps yet." },
};

// Rule titles and messages come from the service (`GET /v1/rules`, and `title` and `messages`
// on each alert), in both languages, from the rule table every Pantau process shares.

const state = {
  lang: sessionStorage.getItem(LANG_KEY) || "id",
  token: sessionStorage.getItem(TOKEN_KEY),
  alerts: new Map(),
  order: [],
  selected: null,
  stream: null,
  summaryTimer: null,
  rules: {},
};

const $ = (sel) => document.querySelector(sel);
const t = (key) => (I18N[key]?.[state.lang] ?? key);
const ruleName = (rule, title) => (title || state.rules[rule] || {})[state.lang] || rule;
const alertMessage = (a) => (a.messages && a.messages[state.lang]) || a.message;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(state.lang === "id" ? "id-ID" : "en-GB", {
    dateStyle: "medium", timeStyle: "short",
  });
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { ...(options.headers || {}), Authorization: `Bearer ${state.token}` },
  });
  if (response.status === 401) {
    signOut();
    throw new Error(t("bad_token"));
  }
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response.json();
}

// --- language ------------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = state.lang;
  $("#lang").textContent = state.lang === "id" ? "EN" : "ID";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
  fillFilters();
  if (!$("#app").classList.contains("hidden")) {
    renderFeed();
    refreshSummary();
    refreshSla();
    if (state.selected) openDetail(state.selected);
  }
  setLive(state.stream !== null && $("#live").classList.contains("on"));
}

function fillFilters() {
  const status = $("#f-status"), severity = $("#f-severity");
  const keepS = status.value, keepV = severity.value;
  status.replaceChildren(el("option", { value: "", text: t("all_status") }),
    ...STATUSES.map((s) => el("option", { value: s, text: t(s) })));
  severity.replaceChildren(el("option", { value: "", text: t("all_severity") }),
    ...SEVERITIES.map((s) => el("option", { value: s, text: t(s) })));
  status.value = keepS;
  severity.value = keepV;
}

// --- sign-in -------------------------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  const me = await api("/v1/me");
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#who").textContent = `${me.name} · ${me.role}`;
  $("#login").classList.add("hidden");
  $("#app").classList.remove("hidden");
  $("#logout").classList.remove("hidden");
  await loadRules();
  await loadAlerts();
  refreshSummary();
  refreshSla();
  connectStream();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  if (state.stream) state.stream.abort();
  state.stream = null;
  $("#app").classList.add("hidden");
  $("#logout").classList.add("hidden");
  $("#detail").classList.add("hidden");
  $("#login").classList.remove("hidden");
  $("#who").textContent = "";
  setLive(false);
}

// --- alerts --------------------------------------------------------------------------------

async function loadRules() {
  const body = await api("/v1/rules");
  state.rules = Object.fromEntries(body.rules.map((r) => [r.rule, r.title]));
}

async function loadAlerts() {
  const params = new URLSearchParams({ limit: "200" });
  if ($("#f-status").value) params.set("status", $("#f-status").value);
  if ($("#f-severity").value) params.set("severity", $("#f-severity").value);
  const page = await api(`/v1/alerts?${params}`);
  state.alerts.clear();
  for (const a of page.items) state.alerts.set(a.alert_id, a);
  state.order = page.items.map((a) => a.alert_id);
  renderFeed();
}

function passesFilters(a) {
  const s = $("#f-status").value, v = $("#f-severity").value;
  return (!s || a.status === s) && (!v || a.severity === v);
}

function alertRow(a, fresh) {
  const row = el("li", {
    class: `alert-row${fresh ? " new" : ""}`, tabindex: "0", "data-alert-id": a.alert_id,
  },
  el("span", { class: `badge ${a.severity}`, text: t(a.severity) }),
  el("span", { class: "title" }, ruleName(a.rule, a.title), el("span", { class: `status ${a.status}`, text: t(a.status) })),
  el("time", { datetime: a.detected_at, text: fmtTime(a.detected_at) }),
  el("span", { class: "sub", text: `${a.agency} · ${a.service} · ${a.case_id}${a.step ? " · " + a.step : ""}` }));
  row.addEventListener("click", () => openDetail(a.alert_id));
  row.addEventListener("keydown", (e) => { if (e.key === "Enter") openDetail(a.alert_id); });
  return row;
}

function renderFeed(freshId) {
  const list = $("#alert-feed");
  const rows = state.order.map((id) => state.alerts.get(id)).filter((a) => a && passesFilters(a));
  list.replaceChildren(...rows.map((a) => alertRow(a, a.alert_id === freshId)));
  $("#feed-empty").classList.toggle("hidden", rows.length > 0);
}

function upsert(a) {
  const known = state.alerts.has(a.alert_id);
  state.alerts.set(a.alert_id, a);
  if (!known) {
    state.order.unshift(a.alert_id);
    state.order.sort((x, y) => state.alerts.get(y).detected_at.localeCompare(state.alerts.get(x).detected_at));
  }
  renderFeed(known ? undefined : a.alert_id);
  if (state.selected === a.alert_id) openDetail(a.alert_id);
  clearTimeout(state.summaryTimer);
  state.summaryTimer = setTimeout(() => { refreshSummary(); refreshSla(); }, 300);
}

async function refreshSummary() {
  const s = await api("/v1/alerts/summary");
  const cards = [el("div", { class: "card stat open" },
    el("div", { class: "n", text: s.by_status.open + s.by_status.acknowledged }),
    el("div", { class: "l", text: `${t("total_open")} / ${t("acknowledged")}` }))];
  for (const sev of SEVERITIES) {
    cards.push(el("div", { class: `card stat ${sev}`, "data-severity": sev },
      el("div", { class: "n", text: s.by_severity[sev] || 0 }),
      el("div", { class: "l", text: t(sev) })));
  }
  $("#severity-cards").replaceChildren(...cards);
  const max = Math.max(1, ...Object.values(s.by_rule));
  $("#rule-counts").replaceChildren(...Object.entries(s.by_rule).map(([rule, n]) =>
    el("li", {},
      el("div", {}, ruleName(rule), el("div", { class: "bar" }, el("span", { style: `width:${(100 * n) / max}%` }))),
      el("span", { class: "n", text: n }))));
}

function pctCell(p) {
  if (!p || p.cases === 0) return el("td", {}, el("span", { class: "muted", text: t("no_cases") }));
  const grade = p.compliance_pct >= 95 ? "good" : p.compliance_pct >= 80 ? "fair" : "poor";
  return el("td", {},
    el("span", { class: `pct ${grade}`, text: `${p.compliance_pct}%` }),
    el("small", { text: `${p.cases} ${t("cases")} · ${p.breached} ${t("breached")}` }));
}

async function refreshSla() {
  const body = await api("/v1/sla");
  $("#sla-table tbody").replaceChildren(...body.services.map((r) =>
    el("tr", {},
      el("td", {}, r.service_name || r.service, el("small", { text: r.agency })),
      pctCell(r.today), pctCell(r.month))));
}

// --- detail and timeline -------------------------------------------------------------------

async function openDetail(alertId) {
  state.selected = alertId;
  const a = await api(`/v1/alerts/${encodeURIComponent(alertId)}`);
  state.alerts.set(a.alert_id, { ...state.alerts.get(a.alert_id), ...a });
  $("#detail-title").replaceChildren(el("span", { class: `badge ${a.severity}`, text: t(a.severity) }), " ",
    ruleName(a.rule, a.title), el("span", { class: `status ${a.status}`, text: t(a.status) }));
  $("#detail-message").textContent = alertMessage(a);
  const facts = [
    [t("agency"), a.agency], [t("service"), a.service], [t("case"), a.case_id], [t("step"), a.step],
    [t("officer"), a.officer_id], [t("occurred"), fmtTime(a.occurred_at)],
    [t("detected"), fmtTime(a.detected_at)], ["ID", a.alert_id],
  ];
  if (a.reason) facts.push([t("dismiss"), a.reason]);
  for (const d of a.deliveries || []) facts.push([t("deliveries"), `${d.target}: ${d.status} (${d.attempts})`]);
  $("#detail-facts").replaceChildren(...facts.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  const allowed = {
    ack: a.status === "open", resolve: a.status === "open" || a.status === "acknowledged",
    dismiss: a.status === "open" || a.status === "acknowledged", comment: true,
  };
  for (const b of document.querySelectorAll(".actions button")) b.disabled = !allowed[b.dataset.action];
  $("#action-error").textContent = "";
  $("#history").replaceChildren(...(a.actions || []).map((r) =>
    el("li", {}, el("strong", { text: t(r.action) || r.action }), ` ${t("by")} ${r.actor} · ${fmtTime(r.at)}${r.note ? " — " + r.note : ""}`)));
  $("#timeline").replaceChildren(a.case ? drawTimeline(a.case) : el("p", { class: "muted", text: t("no_case") }));
  $("#detail").classList.remove("hidden");
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

// Each step is a row: a bar from the step before it to when it happened (green on time, red
// late), a diamond at its deadline; awaited steps show their deadline; the case deadline and
// "now" are vertical lines across all rows.
function drawTimeline(c) {
  const steps = c.steps || [];
  const rows = [...steps.map((s) => ({ ...s, kind: "done" })), ...(c.pending || []).map((p) => ({ ...p, kind: "pending" }))];
  if (rows.length === 0) return el("p", { class: "muted", text: t("no_steps") });
  const now = Date.now();
  const times = [now];
  for (const r of rows) { if (r.at) times.push(Date.parse(r.at)); if (r.due_at) times.push(Date.parse(r.due_at)); }
  if (c.due_at) times.push(Date.parse(c.due_at));
  if (c.opened_at) times.push(Date.parse(c.opened_at));
  const t0 = Math.min(...times), t1 = Math.max(...times) + 1;
  const left = 130, right = 20, width = 720, rowH = 30, top = 50;
  const height = top + rows.length * rowH + 44;
  const x = (ms) => left + ((ms - t0) / (t1 - t0)) * (width - left - right);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("timeline") });
  root.append(svg("text", { x: 4, y: 16, "font-weight": "600" }, `${c.service_name || c.service} · ${c.case_id}`));
  const axisY = top + rows.length * rowH + 6;
  root.append(svg("line", { x1: left, x2: width - right, y1: axisY, y2: axisY, class: "axis" }));
  for (let i = 0; i <= 4; i++) {
    const ms = t0 + ((t1 - t0) * i) / 4;
    const d = new Date(ms);
    root.append(svg("text", { x: x(ms), y: axisY + 14, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" },
      d.toLocaleDateString(state.lang === "id" ? "id-ID" : "en-GB", { day: "numeric", month: "short" })));
  }
  let prev = c.opened_at ? Date.parse(c.opened_at) : null;
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    root.append(svg("text", { x: 4, y: y + 4, fill: r.kind === "pending" ? "#6b7489" : "#1d2433" },
      r.kind === "pending" ? `${r.step} (${t("pending")})` : r.step));
    root.append(svg("line", { x1: left, x2: width - right, y1: y, y2: y, stroke: "#eef1f6" }));
    if (r.kind === "done") {
      const at = Date.parse(r.at);
      const from = prev ?? at;
      const late = r.late;
      root.append(svg("line", { x1: x(from), x2: x(at), y1: y, y2: y, "stroke-width": 6, "stroke-linecap": "round", class: late ? "late" : "ontime" }));
      root.append(svg("circle", { cx: x(at), cy: y, r: 5, fill: late ? "#c0392b" : "#1f8a4c" }));
      prev = at;
    } else if (prev != null) {
      root.append(svg("line", { x1: x(prev), x2: x(now), y1: y, y2: y, "stroke-width": 6, "stroke-linecap": "round", class: r.overdue ? "late" : "ontime", opacity: 0.45 }));
    }
    if (r.due_at) {
      const dx = x(Date.parse(r.due_at));
      root.append(svg("path", { d: `M${dx} ${y - 7} L${dx + 6} ${y} L${dx} ${y + 7} L${dx - 6} ${y} Z`, fill: "#fff", stroke: "#c27c0e", "stroke-width": 2 },));
      root.lastChild.append(svg("title", {}, `${t("step_due")}: ${fmtTime(r.due_at)}`));
    }
  });
  const span = [top - 4, axisY];
  if (c.due_at) {
    const dx = x(Date.parse(c.due_at));
    root.append(svg("line", { x1: dx, x2: dx, y1: span[0], y2: span[1], class: "casedue", "stroke-width": 2 }));
    root.append(svg("text", { x: dx - 4, y: top - 8, "text-anchor": "end", fill: "#c0392b" }, t("case_due")));
  }
  const nx = x(now);
  root.append(svg("line", { x1: nx, x2: nx, y1: span[0], y2: span[1], class: "now" }));
  root.append(svg("text", { x: nx + 3, y: top - 8, fill: "#0b5fa5" }, t("now")));
  const wrap = el("div", {});
  wrap.append(root, el("div", { class: "legend" },
    el("span", {}, el("i", { style: "border-color:#1f8a4c" }), t("on_time")),
    el("span", {}, el("i", { style: "border-color:#c0392b" }), t("late")),
    el("span", {}, "◇ ", t("step_due")),
    el("span", {}, el("i", { style: "border-color:#c0392b;border-top-style:dashed" }), t("case_due"))));
  return wrap;
}

async function act(action) {
  let note = null;
  if (action === "dismiss") { note = prompt(t("reason_prompt")); if (!note) return; }
  if (action === "comment") { note = prompt(t("comment_prompt")); if (!note) return; }
  try {
    const updated = await api(`/v1/alerts/${encodeURIComponent(state.selected)}/actions`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ action, note }),
    });
    upsert(updated);
    await openDetail(updated.alert_id);
  } catch (error) {
    $("#action-error").textContent = error.message;
  }
}

// --- live stream ---------------------------------------------------------------------------

function setLive(on) {
  $("#live").classList.toggle("on", on);
  $("#live").classList.toggle("off", !on);
  $("#live-text").textContent = on ? t("online") : t("offline");
}

async function connectStream() {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  let delay = 1000;
  while (!controller.signal.aborted && state.token) {
    try {
      const response = await fetch("/v1/alerts/stream", {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (response.status === 401) { signOut(); return; }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setLive(true);
      delay = 1000;
      await loadAlerts(); // whatever happened while we were away
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) upsert(JSON.parse(data));
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(15000, delay * 2);
  }
}

// --- wiring --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  fillFilters();
  applyLanguage();
  $("#lang").addEventListener("click", () => {
    state.lang = state.lang === "id" ? "en" : "id";
    sessionStorage.setItem(LANG_KEY, state.lang);
    applyLanguage();
  });
  $("#logout").addEventListener("click", signOut);
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#login-error").textContent = "";
    try {
      await signIn($("#token").value.trim());
      $("#token").value = "";
    } catch (error) {
      state.token = null;
      $("#login-error").textContent = error.message;
    }
  });
  $("#f-status").addEventListener("change", loadAlerts);
  $("#f-severity").addEventListener("change", loadAlerts);
  $("#detail-close").addEventListener("click", () => { $("#detail").classList.add("hidden"); state.selected = null; });
  $("#detail").addEventListener("click", (e) => { if (e.target.id === "detail") $("#detail-close").click(); });
  for (const b of document.querySelectorAll(".actions button")) b.addEventListener("click", () => act(b.dataset.action));
  setInterval(() => { if (state.token) refreshSla().catch(() => {}); }, 60000);
  if (state.token) signIn(state.token).catch(() => signOut());
  else $("#login").classList.remove("hidden");
});
