// What the review queue and the dashboard share: the page's access token, DOM helpers, the
// JSON API client (the token as a Bearer header; errors as ApiError with the server's code)
// and signing in (token present, known, shown). Pages hold no data of their own.

export const PAGE = new URL(location.href);
export const TOKEN = PAGE.searchParams.get("access_token") || "";

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
  const headers = { Authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, cache, body: body === undefined ? undefined : JSON.stringify(body) });
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
  if (!TOKEN) {
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
