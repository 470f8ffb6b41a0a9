// Zenzefi admin console (SPEC §15). A client of the admin API only: every
// action is an API call with the superuser's JWT, so it is authorised and
// audited exactly as the API is. No inline script or style (CSP); the JWT
// lives in sessionStorage, never localStorage or a cookie.
"use strict";

const API = "/api/v1";
const JWT_KEY = "zenzefi.console.jwt";
const PAGE_SIZE = 25;
const SESSIONS_REFRESH_MS = 5000;

// The audit log's filter values; a test in console.rs holds them to the domain's.
const AUDIT_ACTIONS = [
  "auth_register", "auth_login", "user_update", "token_purchase", "token_revoke",
  "admin_force_revoke", "admin_user_update", "admin_token_update", "currency_deposit", "admin_session_terminate",
  "session_device_conflict",
];
const RESOURCE_TYPES = ["user", "access_token", "transaction", "proxy_session"];

let refreshTimer = null;

// ---------- DOM helpers ----------

/** An element with attributes (`class`, `for`, …, `on*` handlers) and children. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function show(node, visible) { node.classList.toggle("hidden", !visible); }

/** A time in the browser's zone, UTC on hover. */
function time(iso) {
  if (!iso) return el("span", { class: "empty" }, "—");
  const date = new Date(iso);
  return el("time", { datetime: iso, title: date.toISOString().replace(".000Z", "Z") + " (UTC)" },
    date.toLocaleString());
}

function labelled(text, control) {
  return el("label", {}, text, control);
}

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "empty" }, empty || "Nothing to show.");
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows));
}

function tag(on, yes, no) {
  return el("span", { class: on ? "tag on" : "tag off" }, on ? yes : no);
}

// ---------- messages ----------

function showError(message) {
  const box = $("error");
  box.textContent = message;
  show(box, true);
}

function notice(message) {
  const box = $("notice");
  box.textContent = message;
  show(box, true);
}

function clearMessages() {
  show($("error"), false);
  show($("notice"), false);
}

/** Runs `action`; a failure shows the problem's `detail`. */
async function guarded(action) {
  try {
    return await action();
  } catch (err) {
    showError(err.message);
    return undefined;
  }
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `The request failed (HTTP ${status})`);
    this.status = status;
    this.code = problem && problem.code;
  }
}

function jwt() { return sessionStorage.getItem(JWT_KEY); }

async function request(method, path, body) {
  const headers = { accept: "application/json" };
  const token = jwt();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  // Paths are relative to the API's prefix unless they name a root path.
  const url = /^\/(api|health)\//.test(path) ? path : `${API}${path}`;
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && token) {
    signOut();
    throw new ApiError(401, { detail: "Your session has expired; please sign in again." });
  }
  return response;
}

async function api(method, path, body) {
  const response = await request(method, path, body);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/**
 * `GET` of a view the page can do without (usage charts): `null` when the
 * endpoint is not there (yet), `{ unavailable: detail }` when it refuses.
 */
async function optional(path) {
  try {
    return await api("GET", path);
  } catch (err) {
    if (err.status === 404 || err.status === 405) return null;
    return { unavailable: err.message };
  }
}

/** The "no data" note under a usage chart, or nothing when there is data. */
function usageNote(usage) {
  if (usage && !usage.unavailable) return null;
  const why = usage ? usage.unavailable : "the usage API is not available.";
  return el("p", { class: "empty" }, `No usage data: ${why}`);
}

// ---------- confirmation ----------

/** Resolves `true` when the operator confirms `message`. */
function confirmed(message, okLabel) {
  const dialog = $("confirm");
  $("confirm-text").textContent = message;
  $("confirm-ok").textContent = okLabel || "Confirm";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

// ---------- sign-in ----------

function signOut() {
  sessionStorage.removeItem(JWT_KEY);
  render();
}

function signInPage() {
  const email = el("input", { id: "email", type: "email", autocomplete: "username", required: true });
  const password = el("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const form = el("form", { class: "signin", id: "sign-in", onsubmit: (event) => {
    event.preventDefault();
    clearMessages();
    guarded(async () => {
      const login = await api("POST", "/auth/login", { email: email.value, password: password.value });
      sessionStorage.setItem(JWT_KEY, login.access_token);
      try {
        // The API decides who is a superuser; its refusal is shown as is.
        await api("GET", `/admin/users${query({ limit: 1 })}`);
      } catch (err) {
        sessionStorage.removeItem(JWT_KEY);
        throw err;
      }
      location.hash = "#/overview";
      render();
    });
  } },
  el("h1", {}, "Sign in"),
  labelled("Email", email),
  labelled("Password", password),
  el("button", { type: "submit", class: "primary" }, "Sign in"));
  return [form, () => email.focus()];
}

// ---------- charts ----------

/** A line chart of `points` (`[{t, v}]`) on a canvas; "no data" when empty. */
function lineChart(label, points) {
  const canvas = el("canvas", { class: "chart", role: "img", "aria-label": label });
  requestAnimationFrame(() => drawLine(canvas, points));
  return canvas;
}

function drawLine(canvas, points) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 220;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#6b7486";
  if (!points || !points.length) {
    ctx.fillText("No data", width / 2 - 20, height / 2);
    return;
  }
  const pad = { left: 48, right: 12, top: 12, bottom: 24 };
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const max = Math.max(1, ...points.map((p) => p.v));
  const x = (t) => pad.left + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
  ctx.strokeStyle = "#dde2ea";
  ctx.beginPath();
  ctx.moveTo(pad.left, y(0));
  ctx.lineTo(width - pad.right, y(0));
  ctx.moveTo(pad.left, y(max));
  ctx.lineTo(width - pad.right, y(max));
  ctx.stroke();
  ctx.fillText(String(max), 4, y(max) + 4);
  ctx.fillText("0", 4, y(0) + 4);
  // Day and time: the ends of a 24 h chart share their time of day.
  const stamp = (t) => new Date(t).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  ctx.fillText(stamp(t0), pad.left, height - 6);
  const end = stamp(t1);
  ctx.fillText(end, width - pad.right - ctx.measureText(end).width, height - 6);
  ctx.strokeStyle = "#1f5fbf";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
  ctx.stroke();
}

/** Requests per bucket from a §14 usage answer, or `[]`. */
function requestPoints(usage) {
  if (!usage || !Array.isArray(usage.series)) return [];
  return usage.series.map((point) => ({ t: Date.parse(point.t), v: Number(point.requests) || 0 }));
}

function lastDay() {
  const to = new Date();
  const from = new Date(to.getTime() - 24 * 3600 * 1000);
  return { from: from.toISOString(), to: to.toISOString() };
}

// ---------- pages ----------

async function totalOf(path) {
  const page = await api("GET", path);
  return page.total_estimated ? `≈ ${page.total}` : String(page.total);
}

async function overviewPage() {
  const range = lastDay();
  const [sessions, tokens, users, health, usage, top, jobs] = await Promise.all([
    totalOf(`/admin/sessions${query({ active_only: true, limit: 1 })}`),
    totalOf(`/admin/tokens${query({ active_only: true, limit: 1 })}`),
    totalOf(`/admin/users${query({ limit: 1 })}`),
    api("GET", "/health/detailed").catch((err) => (err.status === 503 ? null : Promise.reject(err))),
    optional(`/admin/usage${query({ ...range, granularity: "minute" })}`),
    optional(`/admin/usage/top${query({ ...range, by: "requests", group: "user", limit: 10 })}`),
    api("GET", "/admin/jobs"),
  ]);
  const jobRows = jobs.items.map((j) => el("tr", {}, el("td", {}, j.job), el("td", {}, time(j.last_success_at))));
  const card = (label, value, id) => el("div", { class: "card" },
    el("div", { class: "label" }, label), el("div", { class: "value", id }, value));
  const checks = (health && health.checks) || {};
  const latencies = (health && health.latencies) || {};
  const healthRows = [["database", "Database"], ["redis", "Redis"], ["zenzefi", "Upstream"]].map(([key, name]) =>
    el("tr", {}, el("td", {}, name),
      el("td", { class: `status-${checks[key] || "unknown"}` }, checks[key] || "unknown"),
      el("td", { class: "num" }, latencies[`${key}_ms`] == null ? "—" : `${latencies[`${key}_ms`]} ms`)));
  const topItems = (top && (top.items || top.top || top)) || [];
  const topRows = Array.isArray(topItems) ? topItems.map((row) => el("tr", {},
    el("td", {}, row.user_username || row.user_email || row.user_id || "—"),
    el("td", {}, row.user_email || ""),
    el("td", { class: "num" }, row.requests ?? "—"),
    el("td", { class: "num" }, row.bytes_in ?? "—"),
    el("td", { class: "num" }, row.bytes_out ?? "—"))) : [];
  return [
    el("h1", {}, "Overview"),
    el("div", { class: "cards" },
      card("Active sessions", sessions, "stat-sessions"),
      card("Active tokens", tokens, "stat-tokens"),
      card("Users", users, "stat-users"),
      card("Health", health ? health.status : "unknown", "stat-health")),
    el("h2", {}, "Requests per minute, last 24 h"),
    lineChart("Requests per minute over the last 24 hours", requestPoints(usage)),
    usageNote(usage),
    el("div", { class: "grid2" },
      el("section", {}, el("h2", {}, "Top consumers, last 24 h"),
        table(["User", "Email", "Requests", "Bytes in", "Bytes out"], topRows, "No data.")),
      el("section", {}, el("h2", {}, "Health"),
        table(["Dependency", "Status", "Latency"], healthRows),
        el("h2", {}, "Worker jobs"),
        el("div", { id: "jobs" }, table(["Job", "Last success"], jobRows, "No job has succeeded yet.")))),
  ];
}

/**
 * A paged list: filters on top, a table, previous/next below. Pages are
 * walked by the API's keyset cursor (deep pages cost what the first does);
 * the cursors of the pages seen are kept for going back.
 */
function pagedList({ id, filters, load, headers, row, empty }) {
  let starts = [null];
  let index = 0;
  const body = el("div", { id: `${id}-list` });
  const status = el("span", { id: `${id}-range` });
  const prev = el("button", { type: "button", onclick: () => { index = Math.max(0, index - 1); refresh(); } }, "Previous");
  const next = el("button", { type: "button", onclick: () => { index += 1; refresh(); } }, "Next");
  async function refresh() {
    await guarded(async () => {
      const page = await load({ limit: PAGE_SIZE, cursor: starts[index] || "" });
      const offset = index * PAGE_SIZE;
      const total = page.total_estimated ? `about ${page.total}` : page.total;
      body.replaceChildren(table(headers, page.items.map(row), empty));
      status.textContent = page.items.length
        ? `${offset + 1}–${offset + page.items.length} of ${total}` : `0 of ${total}`;
      starts[index + 1] = page.next_cursor;
      prev.disabled = index === 0;
      next.disabled = !page.next_cursor;
    });
  }
  const form = el("form", { class: "filters", id: `${id}-filters`, onsubmit: (event) => {
    event.preventDefault();
    clearMessages();
    starts = [null];
    index = 0;
    refresh();
  } }, filters, el("button", { type: "submit", class: "primary" }, "Apply"));
  return { nodes: [form, body, el("div", { class: "pager" }, prev, next, status)], refresh };
}

function userLink(id, label) {
  return el("a", { href: `#/users/${id}` }, label || id);
}

async function usersPage() {
  const search = el("input", { id: "user-search", type: "search", placeholder: "email or username" });
  const active = el("select", { id: "user-active" },
    el("option", { value: "" }, "all"), el("option", { value: "true" }, "active"),
    el("option", { value: "false" }, "inactive"));
  const list = pagedList({
    id: "users",
    filters: [labelled("Search", search), labelled("Status", active)],
    load: (page) => api("GET", `/admin/users${query({ ...page, search: search.value, is_active: active.value })}`),
    headers: ["Username", "Email", "Balance (ZNC)", "Status", "Role", "Created"],
    row: (u) => el("tr", {},
      el("td", {}, userLink(u.id, u.username)), el("td", {}, u.email),
      el("td", { class: "num" }, u.currency_balance),
      el("td", {}, tag(u.is_active, "active", "inactive")),
      el("td", {}, u.is_superuser ? "superuser" : "user"), el("td", {}, time(u.created_at))),
    empty: "No user matches.",
  });
  await list.refresh();
  return [[el("h1", {}, "Users"), list.nodes], () => search.focus()];
}

function tokenRows(tokens, reload) {
  return tokens.map((t) => {
    const rate = el("input", { type: "number", min: 1, class: "rate", "aria-label": `Rate limit per minute for ${t.token_prefix}`,
      value: t.rate_limit_per_minute ?? "" });
    return el("tr", { "data-token": t.token_id },
      el("td", {}, el("code", {}, t.token_prefix)),
      el("td", {}, t.user_id ? userLink(t.user_id, t.user_username || t.user_email) : "—"),
      el("td", {}, t.scope), el("td", { class: "num" }, t.duration_hours), el("td", { class: "num" }, t.cost_znc),
      el("td", {}, time(t.created_at)), el("td", {}, time(t.expires_at)),
      el("td", {}, tag(t.is_active, "active", t.revoked_at ? "revoked" : "inactive")),
      el("td", {}, el("form", { class: "inline-form", onsubmit: (event) => {
        event.preventDefault();
        clearMessages();
        guarded(async () => {
          const limit = rate.value === "" ? null : Number(rate.value);
          await api("PATCH", `/admin/tokens/${t.token_id}`, { rate_limit_per_minute: limit });
          notice(`Rate limit of ${t.token_prefix} set to ${limit === null ? "the default" : `${limit}/min`}.`);
          await reload();
        });
      } }, rate, " ", el("button", { type: "submit" }, "Set"))),
      el("td", {}, t.is_active ? el("button", { type: "button", class: "danger", onclick: () => forceRevoke(t, reload) }, "Revoke") : null));
  });
}

const TOKEN_HEADERS = ["Prefix", "User", "Scope", "Hours", "Cost", "Created", "Expires", "Status", "Rate limit / min", ""];

async function forceRevoke(token, reload) {
  clearMessages();
  const ok = await confirmed(
    `Revoke token ${token.token_prefix} of ${token.user_email || token.user_id} now? ` +
    "Its live session is closed at once and the owner gets no refund.", "Revoke");
  if (!ok) return;
  await guarded(async () => {
    const answer = await api("DELETE", `/admin/tokens/${token.token_id}`);
    notice(answer.message || `Token ${token.token_prefix} revoked.`);
    await reload();
  });
}

function sessionRows(sessions, reload) {
  return sessions.map((s) => el("tr", { "data-session": s.id },
    el("td", {}, s.user_id ? userLink(s.user_id, s.user_username || s.user_email) : "—"),
    el("td", {}, el("code", {}, s.device_id)), el("td", {}, s.ip_address),
    el("td", {}, time(s.started_at)), el("td", {}, time(s.last_activity)),
    el("td", { class: "num" }, s.request_count), el("td", { class: "num" }, s.bytes_transferred),
    el("td", {}, s.is_active ? tag(true, "live", "") : (s.end_reason || "ended")),
    el("td", {}, s.is_active ? el("button", { type: "button", class: "danger", onclick: () => terminate(s, reload) }, "Terminate") : null)));
}

const SESSION_HEADERS = ["User", "Device", "IP", "Started", "Last activity", "Requests", "Bytes", "State", ""];

async function terminate(session, reload) {
  clearMessages();
  const ok = await confirmed(
    `Terminate the live session of ${session.user_email || session.user_id} on device ${session.device_id}? ` +
    "Its next proxied request is refused; the token stays valid.", "Terminate");
  if (!ok) return;
  await guarded(async () => {
    await api("DELETE", `/admin/sessions/${session.id}`);
    notice("Session terminated.");
    await reload();
  });
}

function auditRows(entries) {
  return entries.map((a) => el("tr", {},
    el("td", {}, time(a.created_at)), el("td", {}, a.action),
    el("td", {}, a.user_id ? userLink(a.user_id, a.user_username || a.user_email) : "anonymous"),
    el("td", {}, a.resource_type), el("td", {}, a.resource_id || ""),
    el("td", {}, a.ip_address || ""), el("td", { class: "details" }, JSON.stringify(a.details))));
}

const AUDIT_HEADERS = ["Time", "Action", "Actor", "Resource", "Resource id", "IP", "Details"];

async function userPage(id) {
  const range = lastDay();
  const [user, ledger, tokens, sessions, audit, usage] = await Promise.all([
    api("GET", `/admin/users/${encodeURIComponent(id)}`),
    api("GET", `/admin/users/${encodeURIComponent(id)}/transactions${query({ limit: 25 })}`),
    api("GET", `/admin/tokens${query({ user_id: id, active_only: false, limit: 100 })}`),
    api("GET", `/admin/sessions${query({ user_id: id, active_only: false, limit: 25 })}`),
    api("GET", `/admin/audit-logs${query({ user_id: id, limit: 25 })}`),
    optional(`/admin/usage${query({ ...range, granularity: "hour", user_id: id })}`),
  ]);
  const reload = () => route();
  const patch = async (change, message, done) => {
    clearMessages();
    if (!(await confirmed(message))) return;
    await guarded(async () => {
      await api("PATCH", `/admin/users/${id}`, change);
      await reload();
      notice(done);
    });
  };
  const who = `${user.username} <${user.email}>`;
  const balance = el("input", { id: "balance", type: "text", inputmode: "decimal", pattern: "[0-9]+(\\.[0-9]{1,2})?", value: user.currency_balance });
  const balanceForm = el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    patch({ currency_balance: balance.value },
      `Set the balance of ${who} from ${user.currency_balance} to ${balance.value} ZNC? ` +
      "The difference is written to their ledger as an adjustment.", "Balance updated.");
  } }, labelled("New balance (ZNC)", balance), el("button", { type: "submit", id: "set-balance" }, "Set balance"));
  return [
    el("h1", {}, `User ${user.username}`),
    el("dl", { class: "facts" },
      el("dt", {}, "Email"), el("dd", {}, user.email),
      el("dt", {}, "Full name"), el("dd", {}, user.full_name || "—"),
      el("dt", {}, "Balance"), el("dd", { id: "user-balance" }, `${user.currency_balance} ZNC`),
      el("dt", {}, "Status"), el("dd", { id: "user-status" }, tag(user.is_active, "active", "inactive")),
      el("dt", {}, "Role"), el("dd", { id: "user-role" }, user.is_superuser ? "superuser" : "user"),
      el("dt", {}, "Created"), el("dd", {}, time(user.created_at))),
    el("div", { class: "actions" },
      user.is_active
        ? el("button", { type: "button", id: "deactivate", class: "danger", onclick: () => patch({ is_active: false },
          `Deactivate ${who}? Their sign-ins, JWTs and access tokens stop working at once.`, "User deactivated.") }, "Deactivate")
        : el("button", { type: "button", id: "reactivate", onclick: () => patch({ is_active: true },
          `Reactivate ${who}? They can sign in and use their unexpired tokens again.`, "User reactivated.") }, "Reactivate"),
      user.is_superuser
        ? el("button", { type: "button", id: "demote", onclick: () => patch({ is_superuser: false },
          `Demote ${who}? They lose access to the admin API and this console.`, "User demoted.") }, "Demote")
        : el("button", { type: "button", id: "promote", onclick: () => patch({ is_superuser: true },
          `Promote ${who} to superuser? They get full access to the admin API and this console.`, "User promoted.") }, "Promote")),
    balanceForm,
    el("h2", {}, "Usage, last 24 h (requests per hour)"),
    lineChart(`Requests per hour of ${user.username}`, requestPoints(usage)),
    usageNote(usage),
    el("h2", {}, "Tokens"),
    table(TOKEN_HEADERS, tokenRows(tokens.items, reload), "No tokens."),
    el("h2", {}, "Sessions"),
    table(SESSION_HEADERS, sessionRows(sessions.items, reload), "No sessions."),
    el("h2", {}, `Ledger (latest ${ledger.items.length} of ${ledger.total})`),
    el("div", { id: "user-ledger" }, table(["Time", "Type", "Status", "Amount (ZNC)", "Description"], ledger.items.map((t) => el("tr", {},
      el("td", {}, time(t.created_at)), el("td", {}, t.transaction_type), el("td", {}, t.status),
      el("td", { class: "num" }, t.amount), el("td", {}, t.description))), "No transactions.")),
    el("h2", {}, "Audit entries by this user"),
    table(AUDIT_HEADERS, auditRows(audit.items), "No audit entries."),
  ];
}

async function tokensPage() {
  const user = el("input", { id: "token-user", type: "text", placeholder: "user id (UUID)", size: 38 });
  const activeOnly = el("input", { id: "token-active", type: "checkbox", checked: true });
  let list = null;
  list = pagedList({
    id: "tokens",
    filters: [labelled("User id", user), el("label", { class: "inline" }, activeOnly, "Active only")],
    load: (page) => api("GET", `/admin/tokens${query({ ...page, user_id: user.value.trim(), active_only: activeOnly.checked })}`),
    headers: TOKEN_HEADERS,
    row: (t) => tokenRows([t], () => list.refresh())[0],
    empty: "No token matches.",
  });
  await list.refresh();
  return [[el("h1", {}, "Tokens"), list.nodes], () => user.focus()];
}

async function sessionsPage() {
  const activeOnly = el("input", { id: "session-active", type: "checkbox", checked: true });
  let list = null;
  list = pagedList({
    id: "sessions",
    filters: [el("label", { class: "inline" }, activeOnly, "Live only")],
    load: (page) => api("GET", `/admin/sessions${query({ ...page, active_only: activeOnly.checked })}`),
    headers: SESSION_HEADERS,
    row: (s) => sessionRows([s], () => list.refresh())[0],
    empty: "No live sessions.",
  });
  await list.refresh();
  refreshTimer = setInterval(() => {
    if (!$("confirm").open) list.refresh();
  }, SESSIONS_REFRESH_MS);
  return [el("h1", {}, "Sessions"), el("p", {}, "Refreshed every 5 seconds."), list.nodes];
}

function instant(input) {
  return input.value ? new Date(input.value).toISOString() : "";
}

async function auditPage() {
  const select = (id, values) => el("select", { id }, el("option", { value: "" }, "any"),
    values.map((v) => el("option", { value: v }, v)));
  const fields = {
    user_id: el("input", { id: "audit-user", type: "text", placeholder: "UUID", size: 38 }),
    action: select("audit-action", AUDIT_ACTIONS),
    resource_type: select("audit-resource-type", RESOURCE_TYPES),
    resource_id: el("input", { id: "audit-resource", type: "text", placeholder: "UUID", size: 38 }),
    since: el("input", { id: "audit-since", type: "datetime-local" }),
    until: el("input", { id: "audit-until", type: "datetime-local" }),
  };
  const filters = () => ({
    user_id: fields.user_id.value.trim(), action: fields.action.value,
    resource_type: fields.resource_type.value, resource_id: fields.resource_id.value.trim(),
    since: instant(fields.since), until: instant(fields.until),
  });
  const list = pagedList({
    id: "audit",
    filters: [labelled("Actor (user id)", fields.user_id), labelled("Action", fields.action),
      labelled("Resource type", fields.resource_type), labelled("Resource id", fields.resource_id),
      labelled("Since (your time)", fields.since), labelled("Until (your time)", fields.until)],
    load: (page) => api("GET", `/admin/audit-logs${query({ ...page, ...filters() })}`),
    headers: AUDIT_HEADERS,
    row: (a) => auditRows([a])[0],
    empty: "No entry matches.",
  });
  const exportAs = (format) => guarded(async () => {
    clearMessages();
    const response = await request("GET", `${API}/admin/audit-logs/export${query({ ...filters(), format })}`);
    if (!response.ok) {
      const problem = await response.json().catch(() => null);
      throw new ApiError(response.status, problem);
    }
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: `audit-logs.${format}`, class: "hidden" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    notice(`Export downloaded as audit-logs.${format}.`);
  });
  await list.refresh();
  return [[
    el("h1", {}, "Audit log"), list.nodes,
    el("div", { class: "actions" },
      el("button", { type: "button", id: "export-csv", onclick: () => exportAs("csv") }, "Export CSV"),
      el("button", { type: "button", id: "export-ndjson", onclick: () => exportAs("ndjson") }, "Export NDJSON")),
  ], () => fields.user_id.focus()];
}

// ---------- routing ----------

const PAGES = {
  overview: overviewPage,
  users: usersPage,
  tokens: tokensPage,
  sessions: sessionsPage,
  audit: auditPage,
};

async function route() {
  if (refreshTimer) { clearInterval(refreshTimer); refreshTimer = null; }
  const [, name = "overview", id] = (location.hash || "#/overview").split("/");
  const main = $("main");
  for (const link of document.querySelectorAll("#nav a")) {
    const current = link.dataset.page === name;
    link.classList.toggle("current", current);
    if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  const build = name === "users" && id ? () => userPage(decodeURIComponent(id)) : PAGES[name] || PAGES.overview;
  main.setAttribute("aria-busy", "true");
  const result = await guarded(build);
  main.removeAttribute("aria-busy");
  if (result === undefined) { main.replaceChildren(); return; }
  const [nodes, focus] = Array.isArray(result) && typeof result[1] === "function" ? result : [result, null];
  // A page leaves out what it has nothing for (`null`), e.g. a usage note.
  main.replaceChildren(...[nodes].flat(Infinity).filter((node) => node != null));
  main.dataset.page = name;
  if (focus) focus(); else main.focus();
}

function render() {
  const signedIn = Boolean(jwt());
  show($("nav"), signedIn);
  show($("sign-out"), signedIn);
  if (refreshTimer) { clearInterval(refreshTimer); refreshTimer = null; }
  if (!signedIn) {
    $("who").textContent = "";
    const [form, focus] = signInPage();
    $("main").replaceChildren(form);
    $("main").dataset.page = "sign-in";
    focus();
    return;
  }
  guarded(async () => {
    const me = await api("GET", "/users/me");
    $("who").textContent = `${me.username} <${me.email}>`;
  });
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", () => { clearMessages(); if (jwt()) route(); });
  render();
});
