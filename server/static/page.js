// What the pages share: signing in (the link's access token exchanged once for a session
// cookie and removed from the address bar), DOM helpers, the JSON API client (errors as
// ApiError with the server's code). Pages hold no data of their own.

const LINK_TOKEN = new URL(location.href).searchParams.get("access_token") || "";
if (LINK_TOKEN) {          // out of the address bar and the history before anything else runs
  const clean = new URL(location.href);
  clean.searchParams.delete("access_token");
  history.replaceState(history.state, "", clean.pathname + clean.search + clean.hash);
}
export const PAGE = new URL(location.href);
/* The token stays in memory only when the browser keeps no cookie for the page (a frame of
 * another site, e.g. an EHR, where SameSite=Strict cookies are not stored): then it is sent
 * as a Bearer header. Otherwise the HttpOnly cookie is the page's only credential. */
let bearer = "";

export const authHeaders = () => (bearer ? { Authorization: `Bearer ${bearer}` } : {});

/** Sign the page in: exchange the link's token for a session cookie (once per page load).
 * Resolves {ok: true} when the page has a credential, else {ok: false, status, code, message}
 * (status 0: no token in the link and no session; 401: the token or session is not valid). */
let opened = null;
export function openSession() {
  opened ??= (async () => {
    if (LINK_TOKEN) {
      let r;
      try {
        r = await fetch("/api/session", { method: "POST", headers: { Authorization: `Bearer ${LINK_TOKEN}` },
                                          credentials: "same-origin", cache: "no-store" });
      } catch {
        bearer = LINK_TOKEN;      // unreachable now: keep the token so that a retry can still sign in
        return { ok: false, status: -1, code: "NETWORK", message: "The service did not answer." };
      }
      const answer = await r.json().catch(() => null);      // bodies are always read to the end
      if (!r.ok) {
        return { ok: false, status: r.status, code: answer?.error?.code || `HTTP_${r.status}`,
                 message: answer?.error?.message || "" };
      }
      const probe = await fetch("/api/me", { credentials: "same-origin", cache: "no-store" }).catch(() => null);
      await probe?.text().catch(() => null);
      if (!probe || !probe.ok) bearer = LINK_TOKEN;    // the cookie was not kept (a cross-site frame)
      return { ok: true };
    }
    const probe = await fetch("/api/me", { credentials: "same-origin", cache: "no-store" }).catch(() => null);
    const body = probe ? await probe.json().catch(() => null) : null;
    if (probe && probe.ok) return { ok: true };
    return { ok: false, status: 0, code: body?.error?.code || "UNAUTHENTICATED", message: "" };
  })();
  return opened;
}

/** A one-time ticket for the WebSocket (so no token ever stands in its URL). */
export async function wsTicket() {
  const out = await api("/api/ws-ticket", { method: "POST" });
  return out.ticket;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
export const byId = (id) => document.getElementById(id);
export const pad = (n) => String(n).padStart(2, "0");
/** "1 gap", "2 gaps": a count with the word that agrees with it. */
export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    Object.assign(this, { status, code, extra });
  }
}

/** The response of an API call (for JSON or a download); ApiError when it failed. */
export async function fetchApi(path, { method = "GET", body, cache } = {}) {
  const headers = { ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, cache, credentials: "same-origin",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "NETWORK", "The service did not answer. Check the connection and try again.");
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`,
                       error.message || response.statusText, error);
  }
  return response;
}

export async function api(path, options) {
  const response = await fetchApi(path, options);
  return response.json().catch(() => null);
}

/** An element: ``class``, ``text``, ``dataset`` (an object) and ``on<event>`` handlers are set as
 * such, other attributes as strings (true: present); null, undefined and false are skipped, in
 * the attributes and in the (possibly nested) children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

/** Set the named controls of ``form`` from the page's address (a shared or reloaded link keeps
 * its filters); a select gains an option for a value it does not list yet. */
export function formFromUrl(form, names) {
  for (const name of names) {
    const value = PAGE.searchParams.get(name);
    if (value === null) continue;
    const control = form.elements[name];
    if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === value)) {
      control.append(el("option", { value, text: value }));
    }
    control.value = value;
  }
}

export function notice(message) {
  const box = $("#notice");
  box.textContent = message;
  box.hidden = !message;
}

/** The signed-in account ({name, role}) shown in the header, or null after ``refuse`` was
 * called with the reason (no token, unknown or revoked token, service unreachable). */
export async function signIn({ page, role, refuse }) {
  const session = await openSession();
  if (!session.ok && session.status === 0) {
    refuse(`This page needs an access token in its address (?access_token=...). Use the ${page} URL that `
           + `\`scribe serve\` printed at its first start, or \`scribe urls --role ${role} --account NAME --new-token\`, `
           + `or ask an admin for a ${role} token.`);
    return null;
  }
  let me;
  try {
    me = await api("/api/me");
  } catch (err) {
    refuse(err.status === 401 ? `The access token in this page's address is unknown or revoked. Ask an admin for a ${role} token.`
           : `The service could not be reached: ${err.message}`);
    return null;
  }
  $("[data-testid=who]").textContent = `Signed in as ${me.name} (${me.role})`;
  return me;
}
