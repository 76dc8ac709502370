/* scribe sidebar: the physician's live documentation check (/sidebar).
 *
 * URL: /sidebar?access_token=T[&cpt=72100,72110][&modifiers=26][&icd10=M54.50,M43.16][&site=office|facility]
 *              [&lines=73562-RT,73562-LT] (claim lines, each its code and its own modifiers, instead of cpt + modifiers)
 *              [&provider=Dr%20Lee][&dictation_id=ID]
 * The encounter fields are pre-filled from the query; with dictation_id the page reloads that
 * dictation's text and its stored partial (GET /api/dictations/ID) and resumes it instead of starting a new one. A started
 * dictation's id is written into the address, so reloading the page resumes it.
 *
 * Stable data-testid attributes (tests and EHR integrations may rely on them):
 *   status              connection state: data-state = connecting | live | offline | refused | finalized | stopped,
 *                       data-synced = "true" once the server has checked everything typed
 *   encounter           the encounter form: claim-lines (one claim-line a line, data-line, data-cpt: its CPT box
 *                       (enc-cpt on the first line, line-cpt after), line-sides (side-RT, side-LT, side-both),
 *                       line-modifiers chips (modifier-chip, data-modifier: a click removes it), a modifier box
 *                       (enc-modifiers on the first line, line-modifier after), remove-line, line-note for a
 *                       code of both sides by definition, line-gaps (line-gap, data-code: the open gaps about
 *                       the line)), add-line, enc-icd10, enc-site, enc-provider
 *   encounter-summary   one-line summary of the encounter (the form folds away)
 *   dictation           the dictation textarea
 *   error               an error from the server or the connection (code + message); error-dismiss hides it
 *   live                polite ARIA live region (role=log): gaps newly raised / resolved; the last line shows
 *   gap-count, gap-summary   number of open gaps, counts by severity
 *   supported-cpt       shown when the documentation supports other CPT codes than the chosen ones
 *   gaps                open gaps, most severe first; each an <li data-testid="gap" data-code data-severity
 *                       data-key data-new data-selected> holding a gap-button; the selected one shows
 *                       gap-evidence (quoted evidence) and gap-source
 *   gaps-empty          shown when no gap is open
 *   note-view           read-only rendering of the checked text; evidence marks are data-testid="highlight"
 *   checklist           requirements of the chosen code: check-item (data-id, data-met) with check-evidence buttons
 *   indications         conditions found: indication (data-code, data-assertion) with add-icd10 (data-code)
 *                       buttons, or icd10-in-encounter once the code is in the encounter
 *   indications-empty   shown when no condition was found
 *   finalize            sends 'finalize' (after everything typed is committed)
 *   finalized           panel shown after finalization: finalized-summary, finalized-gap items (data-code)
 *   new-dictation       starts a new dictation (after finalizing, or when a resume fails)
 *   open-dictations     the physician's other open dictations (open-count badge, open-list of open-dictation
 *                       items with data-id: open-words, open-reopen link, open-discard button: two clicks)
 *   queries             questions from scribes (queries-badge, query items with query-question, query-answer,
 *                       query-answer-submit, query-result)
 *   gap-evidence        under a selected gap: evidence-context (the quote's sentence) with evidence-mark;
 *                       gap-source with rule-link (/rules/ID)
 *   keys                the keyboard shortcuts: Ctrl+Enter finalize, Alt+W gaps, Alt+T text box
 *
 * PHI: note text is never written to the console nor to browser storage; it lives in the page
 * and on the server only.
 */
import { PAGE, api, byId, el, openSession, plural, wsTicket } from "./page.js";

const PARTIAL_DELAY_MS = 300;      // a partial goes out after this pause in typing...
const PARTIAL_MAX_WAIT_MS = 1500;  // ...or at least this often while typing goes on
const CHUNK = 8000;                // characters per message (frames are limited to 64 KiB)
const NEW_MARK_MS = 8000;          // how long a newly raised gap carries its "New" mark
const ANNOUNCE_DELAY_MS = 700;     // raised/resolved changes are gathered this long before announcing
const RETRY_MS = 1500;
const ANSWER_TIMEOUT_MS = 30000;    // no answer this long: the connection is dropped and resumed
const AUTH_CODES = new Set(["UNAUTHENTICATED", "BAD_TOKEN", "FORBIDDEN", "TOKEN_REVOKED", "TOKEN_EXPIRED",
                            "ORIGIN_NOT_ALLOWED"]);
const RETRYABLE = new Set(["RATE_LIMITED", "BUSY", "STORAGE_UNAVAILABLE", "INTERNAL_ERROR"]);
const CODABLE = new Set(["present", "historical"]);   // assertions whose codes may be added with one click
const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 };
const SEVERITY = { error: { label: "Error" }, warning: { label: "Warning" }, info: { label: "Info" } };
// severity icons (SVG: no dependence on the fonts of the EHR's machine), drawn in currentColor
const ICON_PATHS = {
  error: ["M8 1.5a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13z", "M5.5 5.5l5 5M10.5 5.5l-5 5"],
  warning: ["M8 1.8L15 14H1z", "M8 6v4M8 11.6v.8"],
  info: ["M8 1.5a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13z", "M8 7v4.5M8 4.4v.8"],
};
/* Plain titles of the gap codes come from the rules (GET /api/rules: lexicons/rules.toml), one
 * source for this page and the review queue; until they arrive a code reads as a sentence. */
const GAP_TITLES = {};
const UNCODED = {   // why a condition found in the note gets no one-click code
  negated: "Ruled out in the note: not coded.",
  possible: "Uncertain: in outpatient coding, code the symptoms instead.",
  hypothetical: "Hypothetical: not coded.",
  family: "Family history: not coded as the patient's condition.",
};
const FIELD_OF_ERROR = {
  UNKNOWN_CPT: "enc-cpt", DELETED_CPT: "enc-cpt", INVALID_ICD10: "enc-icd10", BAD_SITE: "enc-site",
};

const ui = {
  status: byId("status"), statusText: byId("status-text"),
  error: byId("error"), errorText: byId("error-text"), errorDismiss: byId("error-dismiss"),
  encBox: byId("encounter-box"), encForm: byId("encounter"), encFields: byId("encounter-fields"),
  encSummary: byId("encounter-summary"), noCpt: byId("no-cpt"), chooseCpt: byId("choose-cpt"),
  lines: byId("enc-lines"), addLine: byId("add-line"), icd10: byId("enc-icd10"), site: byId("enc-site"),
  provider: byId("enc-provider"),
  text: byId("dictation"),
  live: byId("live"), gapCount: byId("gap-count"), gapSummary: byId("gap-summary"), supported: byId("supported-cpt"),
  gaps: byId("gaps"), gapsEmpty: byId("gaps-empty"), note: byId("note-view"),
  checkCpt: byId("check-cpt"), checklist: byId("checklist"),
  indications: byId("indications"), indicationsEmpty: byId("indications-empty"),
  finalize: byId("finalize"), newDictation: byId("new-dictation"),
  finalized: byId("finalized"), finalizedTitle: byId("finalized-title"), finalizedSummary: byId("finalized-summary"),
  finalizedGaps: byId("finalized-gaps"),
  others: byId("others"), othersBadge: byId("others-badge"), othersList: byId("others-list"),
  queries: byId("queries"), queriesBadge: byId("queries-badge"), queriesList: byId("queries-list"),
};

const params = PAGE.searchParams;    // page.js has taken the access token out

/* The page's model of the dictation.
 * confirmed: the final text as the server holds it (changes only when the server accepts a message).
 * boundary:  text.value.slice(0, boundary) is the page's final text; the rest is the uncommitted tail.
 * When the two differ (the physician corrected final text) an 'edit' makes them equal again. */
const S = {
  ws: null, open: false, refused: false, connecting: false, reconnectDelay: 500, reconnectTimer: 0,
  waiters: [],
  dictationId: params.get("dictation_id") || null,
  startAcked: false,          // false while a page-made id may not exist on the server yet
  resuming: Boolean(params.get("dictation_id")),
  dictationOpen: false, finalized: false, stopped: false,
  confirmed: "", boundary: 0, commitTo: 0, prevValue: "",
  serverPartial: "", partialKnown: true, partialDue: false, partialTimer: 0, partialFirst: 0,
  seq: 0,
  serverEncounter: null, encounterDirty: false,
  invalidCodes: new Set(),    // CPT codes the server refused (their boxes are marked invalid)
  linesTimer: 0,
  finalizeWanted: false,
  pumping: false, blocked: false, retryTimer: 0, resyncing: false,
  errorGroup: null,           // the kind of message whose error is shown: "encounter" | "text" | ...
  lastState: null, checkedText: "", checkedFinal: 0, noteSig: "",
  pointerDown: false, renderPending: false,
  selection: null,            // {kind: "gap", key} | {kind: "check", id}
  raisedAt: new Map(), flashed: new Set(), newTimer: 0,
  announce: { raised: new Map(), resolved: new Map(), timer: 0 },
};

// -- text helpers ------------------------------------------------------------------------------
// The server counts characters as code points; JavaScript strings count UTF-16 units.
const SURROGATE = /[\uD800-\uDFFF]/;
const cpLen = (s) => (SURROGATE.test(s) ? Array.from(s).length : s.length);
const unitToCp = (s, u) => (SURROGATE.test(s) ? cpLen(s.slice(0, u)) : u);
function cpToUnit(s, cp) {
  if (!SURROGATE.test(s)) return Math.max(0, Math.min(cp, s.length));
  let u = 0;
  for (let n = 0; n < cp && u < s.length; n++) u += isHigh(s.charCodeAt(u)) && u + 1 < s.length ? 2 : 1;
  return u;
}
const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

function commonPrefix(a, b) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i > 0 && i < n && isHigh(a.charCodeAt(i - 1))) i--;     // never split a surrogate pair
  return i;
}

function commonSuffix(a, b, floor) {
  const n = Math.min(a.length, b.length) - floor;
  let i = 0;
  while (i < n && a.charCodeAt(a.length - 1 - i) === b.charCodeAt(b.length - 1 - i)) i++;
  if (i > 0 && i < a.length && isLow(a.charCodeAt(a.length - i))) i--;
  return i;
}

function safeCut(s, n) {          // a cut at most n units long that keeps surrogate pairs whole
  if (s.length <= n) return s.length;
  return isHigh(s.charCodeAt(n - 1)) ? n - 1 : n;
}

/* Where a position moves when prev[p, pe) was replaced and the text grew by delta. Typing exactly
 * at the position stays after it (it belongs to the tail); a change straddling it pulls it back. */
function shift(pos, p, pe, delta) {
  if (pe < pos || (pe === pos && p < pos)) return pos + delta;
  if (p < pos) return p;
  return pos;
}

const SENTENCE_END = /\n|[.!?]["')\]]*\s/g;

function lastBoundary(tail) {
  let end = 0;
  for (const m of tail.matchAll(SENTENCE_END)) end = m.index + m[0].length;
  return end;
}

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function icon(severity) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", "sev-icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICON_PATHS[severity] || ICON_PATHS.info) {
    const path = document.createElementNS(NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/* Lists are re-rendered on every state. An item whose content did not change keeps its element, so
 * a click in progress (mouse down, a state arrives, mouse up) still lands, and focus stays put. */
const SIGNATURES = new WeakMap();

function renderKeyed(container, items) {   // items: [{key, sig, build: () => Element}]
  const existing = new Map();
  for (const child of container.children) existing.set(child.dataset.rkey, child);
  const nodes = items.map(({ key, sig, build }) => {
    const old = existing.get(key);
    if (old && SIGNATURES.get(old) === sig) return old;
    const node = build();
    node.dataset.rkey = key;
    SIGNATURES.set(node, sig);
    if (old) {                 // carry an opened disclosure over to the new element
      const opened = [...old.querySelectorAll("details")].map((d) => d.open);
      node.querySelectorAll("details").forEach((d, i) => { if (opened[i]) d.open = true; });
    }
    return node;
  });
  nodes.forEach((node, i) => {
    if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null);
  });
  while (container.children.length > nodes.length) container.lastElementChild.remove();
}

const gapKey = (g) => `${g.code}|${g.cpt || ""}|${g.icd10 || ""}${g.line == null ? "" : `|${g.line}`}`;
const gapTitle = (g) => GAP_TITLES[g.code] || g.code.toLowerCase().replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
const bySeverity = (a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || a.code.localeCompare(b.code);

// -- encounter ---------------------------------------------------------------------------------
/* The encounter form holds one row per claim line: its CPT code, side buttons (RT / LT / both,
 * for codes of one side of a paired part), its modifiers as chips, and the open gaps about that
 * line. What a code is (its family, its side policy) comes from the lexicons (GET /api/codes);
 * the page names no code range. The encounter goes out as `lines`, each line its own modifiers. */
const CATALOGUE = { codes: new Map(), families: new Map() };

function codes(value, upper = true) {
  const seen = new Set();
  for (let part of value.split(/[\s,;]+/)) {
    part = part.trim();
    if (upper) part = part.toUpperCase();
    if (part) seen.add(part);
  }
  return [...seen];
}

/* The codes of an encounter (sent or stored): its lines' codes, else its `cpt`. */
const encCpts = (enc) => (enc?.lines ? enc.lines.map((l) => l.cpt) : enc?.cpt || []);
const lineText = (line) => [line.cpt, ...line.modifiers].join("-");

/* An encounter's lines as the form shows them: `lines`, else one line a code with every modifier. */
function linesOfEncounter(enc = {}) {
  if (Array.isArray(enc.lines) && enc.lines.length) {
    return enc.lines.map((l) => ({ cpt: String(l.cpt || "").toUpperCase(), modifiers: codes((l.modifiers || []).join(",")) }));
  }
  const mods = codes((enc.modifiers || []).join(","));
  return (enc.cpt || []).map((cpt) => ({ cpt, modifiers: [...mods] }));
}

/* The rows as typed: a CPT box holding several codes is several lines (each with the row's modifiers);
 * text typed in a modifier box and not yet made a chip counts. Empty rows are kept (as {cpt: ""}). */
function rowsFromForm() {
  const rows = [];
  for (const li of ui.lines.querySelectorAll(":scope > .claim-line")) {
    const chips = [...li.querySelectorAll(".chip")].map((c) => c.dataset.modifier);
    const modifiers = [...new Set([...chips, ...codes(li.querySelector(".line-mod").value)])];
    const cpts = codes(li.querySelector(".line-cpt").value);
    if (!cpts.length) rows.push({ cpt: "", modifiers });
    for (const cpt of cpts) rows.push({ cpt, modifiers: [...modifiers] });
  }
  return rows;
}

function readEncounter() {
  const lines = rowsFromForm().filter((r) => r.cpt);
  const out = {};
  if (lines.length) out.lines = lines;
  return Object.assign(out, {
    icd10: codes(ui.icd10.value), site: ui.site.value === "facility" ? "facility" : "office",
    provider: ui.provider.value.trim() || null,
  });
}

function fillEncounter(enc) {
  renderLines(linesOfEncounter(enc));
  ui.icd10.value = (enc.icd10 || []).join(", ");
  ui.site.value = enc.site === "facility" ? "facility" : "office";
  ui.provider.value = enc.provider || "";
  renderEncounterSummary();
}

function encounterFromUrl() {
  const list = (name) => codes(params.get(name) || "");
  // ?lines=73562-RT,73562-LT (each line its code and modifiers), else ?cpt=...&modifiers=...
  const lines = codes(params.get("lines") || "").map((item) => {
    const [cpt, ...mods] = item.split("-");
    return { cpt, modifiers: [...new Set(mods.filter(Boolean))] };
  }).filter((l) => l.cpt);
  return {
    ...(lines.length ? { lines } : { cpt: list("cpt"), modifiers: list("modifiers") }), icd10: list("icd10"),
    site: params.get("site") === "facility" ? "facility" : "office",
    provider: (params.get("provider") || "").trim() || null,
  };
}

/* What the form offers for a code: side buttons for a one-side code of a paired part; for a code
 * of both sides by definition a note that it takes no side modifier; nothing for midline codes. */
function sidePolicy(cpt) {
  const code = CATALOGUE.codes.get(cpt);
  if (!code) return { laterality: null };
  const family = CATALOGUE.families.get(code.family) || { laterality_modifiers: [] };
  const mods = family.laterality_modifiers || [];
  return {
    laterality: code.laterality, family: code.family,
    sides: mods.includes("RT") && mods.includes("LT"),
    // both sides: an RT line and an LT line; 50 only where the family has no RT/LT but takes 50
    both: mods.includes("RT") && mods.includes("LT") ? "two-lines" : mods.includes("50") ? "50" : null,
  };
}

function renderLines(rows, focus = null) {
  if (!rows.length) rows = [{ cpt: "", modifiers: [] }];
  ui.lines.replaceChildren(...rows.map((row, i) => lineRow(row, i, rows.length)));
  renderLineGaps();
  if (focus) {
    const target = ui.lines.querySelector(`[data-focus="${CSS.escape(focus)}"]`) || ui.addLine;
    target.focus({ preventScroll: true });
  }
}

function lineRow(row, i, count) {
  const n = i + 1;
  const cptId = i === 0 ? "enc-cpt" : `enc-cpt-${n}`;
  const modId = i === 0 ? "enc-modifiers" : `enc-modifiers-${n}`;
  const invalid = S.invalidCodes.has(row.cpt);
  const cpt = el("input", {
    id: cptId, class: `line-cpt${!row.cpt && count === 1 ? " needs-value" : ""}`, name: "cpt",
    "data-testid": i === 0 ? "enc-cpt" : "line-cpt", "data-focus": `cpt-${i}`, autocomplete: "off", spellcheck: "false",
    "aria-describedby": "enc-hint", placeholder: "e.g. 72100", value: row.cpt, "aria-invalid": invalid ? "true" : null,
  });
  cpt.value = row.cpt;
  const policy = sidePolicy(row.cpt);
  const sides = policy.laterality === "unilateral" && policy.sides ? el("span", {
    class: "sides", role: "group", "aria-label": `Side of line ${n}`, "data-testid": "line-sides",
  }, ...[["RT", "RT", "Right"], ["LT", "LT", "Left"]].map(([mod, text, word]) => el("button", {
    type: "button", class: "btn btn-small side", "data-testid": `side-${mod}`, "data-focus": `side-${mod}-${i}`,
    "aria-pressed": String(row.modifiers.includes(mod)), "aria-label": `${word} side (${mod}), line ${n}`, text,
    onclick: () => setSide(i, mod),
  })), policy.both ? el("button", {
    type: "button", class: "btn btn-small side", "data-testid": "side-both", "data-focus": `side-both-${i}`,
    "aria-pressed": policy.both === "50" ? String(row.modifiers.includes("50")) : null,
    "aria-label": policy.both === "50" ? `Both sides (50), line ${n}` : `Both sides: an RT line and an LT line, line ${n}`,
    text: "Both", onclick: () => setSide(i, "both"),
  }) : null) : null;
  const chips = el("ul", { class: "chips", "aria-label": `Modifiers of line ${n}`, "data-testid": "line-modifiers" },
    ...row.modifiers.map((m) => el("li", {}, el("button", {
      type: "button", class: "chip", "data-testid": "modifier-chip", "data-modifier": m, "data-focus": `chip-${m}-${i}`,
      "aria-label": `Remove modifier ${m} from line ${n}`, onclick: () => removeModifier(i, m),
    }, m, el("span", { "aria-hidden": "true", text: " \u00d7" })))));
  const note = policy.laterality === "bilateral"
    ? el("p", { class: "line-note", "data-testid": "line-note", text: "Both sides by definition: no side modifier." }) : null;
  return el("li", { class: "claim-line", "data-testid": "claim-line", "data-line": String(i), "data-cpt": row.cpt },
    el("div", { class: "line-main" },
      el("span", { class: "line-cpt-field" }, el("label", { for: cptId },
        el("span", { "aria-hidden": "true", text: `Line ${n} \u00b7 ` }), "CPT",
        el("span", { class: "visually-hidden", text: `, line ${n}` })), cpt),
      sides,
      el("button", {
        type: "button", class: "btn btn-small remove-line", "data-testid": "remove-line", "data-focus": `remove-${i}`,
        "aria-label": `Remove line ${n}`, title: `Remove line ${n}`, text: "Remove",
        hidden: count === 1 && !row.cpt && !row.modifiers.length, onclick: () => removeLine(i),
      })),
    el("div", { class: "line-mods" }, chips,
      el("label", { for: modId, class: "visually-hidden", text: `Add modifiers to line ${n}` }),
      el("input", {
        id: modId, class: "line-mod", name: "modifiers", "data-testid": i === 0 ? "enc-modifiers" : "line-modifier",
        "data-focus": `mod-${i}`, autocomplete: "off", spellcheck: "false", "aria-describedby": "enc-hint",
        placeholder: "optional, e.g. 26",
      })),
    note,
    el("ul", { class: "line-gaps", "data-testid": "line-gaps", "aria-label": `Gaps about line ${n}` }));
}

/* Changes to the rows: each rebuilds the form from what is typed, then checks the encounter. */
function changeLines(fn, focus) {
  const rows = rowsFromForm();
  fn(rows);
  renderLines(rows, focus);
  onEncounterChanged();
}

function setSide(i, side) {
  changeLines((rows) => {
    const row = rows[i];
    if (!row) return;
    const on = side !== "both" && row.modifiers.includes(side);
    row.modifiers = row.modifiers.filter((m) => m !== "RT" && m !== "LT" && m !== "50");
    if (side === "both") {
      if (sidePolicy(row.cpt).both === "50") {
        row.modifiers.push("50");
        return;
      }
      row.modifiers.push("RT");
      const other = rows.find((r, k) => k !== i && r.cpt === row.cpt && r.modifiers.includes("LT"));
      if (!other) rows.splice(i + 1, 0, { cpt: row.cpt, modifiers: [...row.modifiers.filter((m) => m !== "RT"), "LT"] });
    } else if (!on) {
      row.modifiers.push(side);
    }
  }, `side-${side}-${i}`);
}

function removeModifier(i, mod) {
  changeLines((rows) => {
    if (rows[i]) rows[i].modifiers = rows[i].modifiers.filter((m) => m !== mod);
  }, `mod-${i}`);
}

function removeLine(i) {
  changeLines((rows) => { rows.splice(i, 1); }, `cpt-${Math.max(0, i - 1)}`);
  announceNow(`Line ${i + 1} removed.`);
}

function addLine() {
  const rows = rowsFromForm();
  rows.push({ cpt: "", modifiers: [] });
  renderLines(rows, `cpt-${rows.length - 1}`);
  announceNow(`Line ${rows.length} added. Enter its CPT code.`);
}

/* A typed CPT or modifier is taken in: modifiers become chips, several codes several rows. When
 * the rows stay as they are, only what depends on a row's code (its side buttons) is redrawn in
 * place: the boxes and buttons under the pointer or the caret stay. */
function onLineFieldChanged() {
  onEncounterChanged();
  // redrawn once the focus has moved on (a change fires as the box loses focus, before the next
  // control has it): the control the focus went to is then known and found again in the new rows
  clearTimeout(S.linesTimer);
  S.linesTimer = setTimeout(redrawLines, 0);
}

function redrawLines() {
  const rows = rowsFromForm();
  const shown = [...ui.lines.querySelectorAll(":scope > .claim-line")];
  if (rows.length !== shown.length || ui.lines.querySelector(".line-mod:not(:placeholder-shown)")) {
    const active = ui.lines.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    renderLines(rows, active);
  } else {
    refreshRows(rows);
  }
}

function refreshRows(rows = rowsFromForm()) {
  const shown = [...ui.lines.querySelectorAll(":scope > .claim-line")];
  shown.forEach((li, i) => {
    const row = rows[i];
    if (!row) return;
    const fresh = lineRow(row, i, rows.length);
    li.dataset.cpt = row.cpt;
    const active = document.activeElement;
    let lost = null;                 // the focused control was a side button of the code before
    for (const sel of [".sides", ".line-note"]) {
      const old = li.querySelector(sel);
      const now = fresh.querySelector(sel);
      if (old && old.contains(active)) lost = active.dataset.focus;
      if (old && now) old.replaceWith(now);
      else if (old) old.remove();
      else if (now && sel === ".sides") li.querySelector(".remove-line").before(now);
      else if (now) li.querySelector(".line-gaps").before(now);
    }
    li.querySelector(".remove-line").hidden = fresh.querySelector(".remove-line").hidden;
    if (lost) {
      const again = li.querySelector(`[data-focus="${CSS.escape(lost)}"]`) || li.querySelector(".sides button")
        || [li.querySelector(".remove-line"), li.querySelector(".line-mod")].find((b) => !b.hidden);
      again.focus({ preventScroll: true });
    }
  });
  renderLineGaps();
}

/* The open gaps about a line, under the line: a gap's `line` (an index into the lines sent, the
 * empty rows skipped), else the only line of its CPT code. */
function renderLineGaps() {
  const gaps = [...(S.lastState?.gaps || [])].sort(bySeverity);
  const shown = [...ui.lines.querySelectorAll(":scope > .claim-line")];
  const filled = shown.filter((li) => li.dataset.cpt);
  const sent = encCpts(S.serverEncounter);
  for (const li of shown) {
    const k = filled.indexOf(li);
    const cpt = li.dataset.cpt;
    const mine = k < 0 ? [] : gaps.filter((g) => (g.line != null ? g.line === k && sent[k] === cpt
      : g.cpt && g.cpt === cpt && filled.filter((x) => x.dataset.cpt === cpt).length === 1));
    li.classList.toggle("has-gaps", mine.length > 0);
    li.querySelector(".line-gaps").replaceChildren(...mine.map((g) => el("li", {
      "data-testid": "line-gap", "data-code": g.code, "data-severity": g.severity,
    }, el("span", { class: `sev sev-${g.severity}` }, icon(g.severity), (SEVERITY[g.severity] || {}).label || g.severity),
       el("span", { text: `${gapTitle(g)}${g.fix ? `: ${g.fix}` : ""}` }))));
  }
}

async function loadCatalogue() {
  try {
    const body = await api("/api/codes", { cache: "force-cache" });
    for (const f of body?.families || []) CATALOGUE.families.set(f.family, f);
    for (const c of body?.codes || []) CATALOGUE.codes.set(c.cpt, c);
  } catch {
    return;        // the form works without side buttons
  }
  refreshRows();
}

function renderEncounterSummary() {
  const e = readEncounter();
  const parts = [(e.lines || []).map(lineText).join(", ") || "choose the study code"];
  parts.push(e.icd10.join(", ") || "no ICD-10");
  parts.push(e.site);
  if (e.provider) parts.push(e.provider);
  ui.encSummary.textContent = parts.join(" \u00b7 ");
  renderNoCpt(e);
}

/* No CPT chosen: nothing is checked against a code; the page says so (and not "complete"). */
function renderNoCpt(e = readEncounter()) {
  const none = encCpts(e).length === 0;
  ui.noCpt.hidden = !none;
  const first = ui.lines.querySelector(".line-cpt");
  if (first) first.classList.toggle("needs-value", none);
}

/* A filled encounter (a CPT chosen) folds to its one-line summary once the physician leaves it, so
 * the text box and the first gaps stay above the fold at 400 px. */
function foldEncounterIfFilled() {
  if (ui.encBox.open && encCpts(readEncounter()).length && !S.refused && ui.error.dataset.code !== "BAD_ENCOUNTER"
      && !ui.encFields.querySelector("[aria-invalid=true]")) ui.encBox.open = false;
}

function chooseCpt() {
  ui.encBox.open = true;
  (ui.lines.querySelector(".line-cpt:placeholder-shown") || ui.lines.querySelector(".line-cpt")).focus();
}

function onEncounterChanged() {
  renderEncounterSummary();
  const enc = readEncounter();
  S.invalidCodes.clear();
  for (const f of ui.encFields.querySelectorAll("input, select")) f.removeAttribute("aria-invalid");
  if (S.dictationOpen && JSON.stringify(enc) === JSON.stringify(S.serverEncounter)) {
    S.encounterDirty = false;                  // back to what the server has: nothing to send
    if (S.errorGroup === "encounter") clearError();
  } else {
    S.encounterDirty = true;
  }
  S.blocked = false;
  if (S.selection) renderAll();
  pump();
}

function markInvalid(code, message = "") {
  if (code === "UNKNOWN_CPT" || code === "DELETED_CPT" || code === "BAD_ENCOUNTER") {
    const inputs = [...ui.lines.querySelectorAll(".line-cpt")];
    const named = inputs.filter((f) => f.value.trim() && message.includes(f.value.trim().toUpperCase()));
    for (const f of named.length ? named : code === "BAD_ENCOUNTER" ? [] : inputs.slice(0, 1)) {
      f.setAttribute("aria-invalid", "true");
      S.invalidCodes.add(f.value.trim().toUpperCase());
    }
  } else {
    const id = FIELD_OF_ERROR[code];
    if (id) byId(id).setAttribute("aria-invalid", "true");
  }
  if (FIELD_OF_ERROR[code] || code === "BAD_ENCOUNTER") ui.encBox.open = true;
}

// -- connection --------------------------------------------------------------------------------
async function connect() {
  clearTimeout(S.reconnectTimer);
  if (S.refused || S.connecting) return;
  setStatus();
  S.connecting = true;
  let ticket;
  try {
    ticket = await wsTicket();       // one-time: the WebSocket URL never carries the token
  } catch (e) {
    S.connecting = false;
    if (e.status === 401 || e.status === 403) {
      refuse({ code: e.status === 403 ? "FORBIDDEN" : e.code === "TOKEN_EXPIRED" ? "TOKEN_EXPIRED" : "BAD_TOKEN",
               message: e.message });
      return;
    }
    S.reconnectTimer = setTimeout(connect, S.reconnectDelay);
    S.reconnectDelay = Math.min(S.reconnectDelay * 2, 4000);
    return;
  }
  S.connecting = false;
  if (S.refused) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/dictation?ticket=${encodeURIComponent(ticket)}`);
  S.ws = ws;
  ws.addEventListener("open", () => {
    S.open = true;
    S.reconnectDelay = 500;
    S.dictationOpen = false;     // (re)attach: resume or start comes first
    setStatus();
    pump();
  });
  ws.addEventListener("message", (ev) => onFrame(ev.data));
  ws.addEventListener("close", (ev) => onClose(ws, ev));
}

function onFrame(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  if (!msg || typeof msg !== "object") return;
  if (msg.type === "error" && AUTH_CODES.has(msg.code)) {
    refuse(msg);
    return;
  }
  if (msg.pushed) {               // caused by another connection (e.g. a speech engine): not an answer
    onPush(msg);
    return;
  }
  const waiter = S.waiters.shift();
  if (waiter) waiter.resolve(msg);
  else onPush(msg);
}

function onClose(ws, ev) {
  if (S.ws !== ws) return;
  S.open = false;
  S.dictationOpen = false;
  S.watching = false;
  const waiters = S.waiters.splice(0);
  for (const w of waiters) w.reject(new Error("connection closed"));
  if (ev.code === 4401 || ev.code === 4403 || ev.code === 4003) {
    const code = ev.code === 4003 ? "ORIGIN_NOT_ALLOWED" : ev.code === 4403 ? "FORBIDDEN"
      : ev.reason === "token expired" ? "TOKEN_EXPIRED" : "BAD_TOKEN";
    if (!S.refused) refuse({ code, message: ev.reason || "" });
    return;
  }
  setStatus();
  S.reconnectTimer = setTimeout(connect, S.reconnectDelay);
  S.reconnectDelay = Math.min(S.reconnectDelay * 2, 4000);
}

/* Every message gets exactly one answer, in order, so answers are matched to requests by position.
 * (A frame marked "pushed", or arriving while nothing is awaited, is a push: rendered as it comes.) A connection that
 * stops answering is closed, which reconnects and resumes. */
function request(payload) {
  return new Promise((resolve, reject) => {
    const ws = S.ws;
    if (!S.open || !ws) {
      reject(new Error("not connected"));
      return;
    }
    const timer = setTimeout(() => {
      if (S.ws === ws) ws.close(4000, "no answer");
    }, ANSWER_TIMEOUT_MS);
    S.waiters.push({
      resolve: (msg) => { clearTimeout(timer); resolve(msg); },
      reject: (err) => { clearTimeout(timer); reject(err); },
    });
    ws.send(JSON.stringify(payload));
  });
}

function refuse(msg) {
  S.refused = true;
  S.open = false;
  const why = msg.code === "FORBIDDEN"
    ? "This link cannot open a dictation: the dictation sidebar needs a physician's token."
    : msg.code === "ORIGIN_NOT_ALLOWED"
      ? "scribe refused this page's connection: the site it runs on is not allowed. Ask your administrator."
    : msg.code === "UNAUTHENTICATED"
      ? "This link has no access token. Open the sidebar from your EHR or with the link scribe gave you."
      : msg.code === "TOKEN_EXPIRED"
        ? "This link's access token has expired. Ask your administrator for a new link; the dictation is saved."
        : "This link's access token is unknown or revoked. Ask your administrator for a new link.";
  showError(msg.code, why, msg.message ? `(${msg.message})` : "", { dismissable: false });
  ui.text.readOnly = true;
  ui.encFields.disabled = true;
  ui.finalize.disabled = true;
  setStatus();
  try {
    S.ws?.close();
  } catch { /* already closing */ }
}

// -- the message pump: one message in flight, each answer applied before the next is chosen --
function hasWork() {
  if (S.finalized || S.stopped) return false;
  if (!S.dictationOpen || !S.watching || S.encounterDirty || S.finalizeWanted) return true;
  const v = ui.text.value;
  const tail = v.slice(S.boundary);
  return v.slice(0, S.boundary) !== S.confirmed || S.commitTo > S.boundary || tail !== S.serverPartial || !S.partialKnown;
}

function nextMessage() {
  if (!S.open || S.refused || S.finalized || S.stopped || S.blocked || S.resyncing) return null;
  if (!S.dictationOpen) return S.dictationId && (S.resuming || S.startAcked) ? resumeMessage() : startMessage();
  if (!S.watching) return watchMessage();
  if (S.encounterDirty) return contextMessage();
  const v = ui.text.value;
  const fin = v.slice(0, S.boundary);
  const tail = v.slice(S.boundary);
  S.commitTo = Math.min(S.commitTo, v.length);
  const commitDue = S.commitTo > S.boundary || tail.length > CHUNK;
  // corrections of final text wait for a pause in typing, like partials (one edit, not one per key)
  if (fin !== S.confirmed && (S.partialDue || commitDue || S.finalizeWanted || !S.partialKnown)) return editMessage(fin);
  if (commitDue) return commitMessage();
  if ((S.partialDue || !S.partialKnown) && (tail !== S.serverPartial || !S.partialKnown)) return partialMessage(tail);
  S.partialDue = false;
  if (S.finalizeWanted) return finalizeMessage();
  return null;
}

async function pump() {
  if (S.pumping) return;
  S.pumping = true;
  setStatus();
  try {
    for (;;) {
      const m = nextMessage();
      if (!m) break;
      let answer;
      try {
        answer = await request(m.payload);
      } catch {
        m.failed?.(null);           // connection lost: resumed (and re-sent) on reconnect
        break;
      }
      if (answer.type === "error") {
        const quiet = m.failed?.(answer) === true;    // handled without troubling the physician
        if (!quiet) {
          onError(answer);
          S.errorGroup = groupOf(m.payload.type);
        }
        if (S.refused) break;
        continue;
      }
      m.applied?.(answer);
      if (S.errorGroup && S.errorGroup === groupOf(m.payload.type)) clearError();   // the same kind went through
      if (answer.type === "state") onState(answer, true);
      else if (answer.type === "finalized") onFinalized(answer);
    }
  } finally {
    S.pumping = false;
    setStatus();
  }
}

const groupOf = (type) => ({ start: "encounter", context: "encounter", segment: "text", edit: "text" }[type] || type);

function startMessage() {
  const encounter = readEncounter();
  if (!S.dictationId) S.dictationId = newId();
  const id = S.dictationId;
  return {
    payload: { type: "start", encounter, dictation_id: id },
    applied: (ans) => {
      S.startAcked = true;
      S.dictationOpen = true;
      S.watching = false;
      S.serverEncounter = encounter;
      S.encounterDirty = JSON.stringify(readEncounter()) !== JSON.stringify(encounter);
      S.confirmed = "";
      S.serverPartial = "";
      S.partialKnown = true;
      S.dictationId = ans.dictation_id || id;
      setAddress(S.dictationId);
      S.checkedText = "";
      S.checkedFinal = 0;
      announceNow(`Dictation started. ${countText(ans.gaps || [])}.`);
    },
    failed: (err) => {
      if (!err) {
        S.startAcked = true;     // it may exist now: resume it (or start it again) on reconnect
        return;
      }
      if (err.code === "DICTATION_EXISTS" && !S.startAcked) {   // a start lost with the connection did arrive
        S.startAcked = true;
        return true;
      }
      markInvalid(err.code, err.message);
      S.blocked = true;           // until the encounter changes
    },
  };
}

/* Watch the dictation: states that other connections cause on it (a speech engine dictating into
 * it) arrive as pushes ("pushed": true) and are shown like our own. */
function watchMessage() {
  return {
    payload: { type: "watch", dictation_id: S.dictationId },
    applied: () => { S.watching = true; },
    failed: (err) => {
      S.watching = true;         // not worth troubling the physician: the page works without pushes
      return Boolean(err);
    },
  };
}

function resumeMessage() {
  const id = S.dictationId;
  return {
    payload: { type: "resume", dictation_id: id },
    applied: (ans) => {
      S.resuming = false;
      S.startAcked = true;
      S.dictationOpen = true;
      S.watching = false;
      S.partialKnown = false;    // the server may hold an older partial: the next segment replaces it
      if (!S.serverEncounter) S.serverEncounter = readEncounter();
      S.encounterDirty = JSON.stringify(readEncounter()) !== JSON.stringify(S.serverEncounter);
      S.checkedText = S.confirmed;
      S.checkedFinal = S.confirmed.length;
    },
    failed: (err) => {
      if (!err) return;
      if (err.code === "DICTATION_NOT_FOUND" && !S.resuming) {
        S.startAcked = false;    // our own start never arrived: start it again under the same id
        return true;
      }
      S.stopped = true;
      ui.newDictation.hidden = false;
    },
  };
}

function contextMessage() {
  const encounter = readEncounter();
  S.encounterDirty = false;
  return {
    payload: { type: "context", encounter },
    applied: () => {
      S.serverEncounter = encounter;
    },
    failed: (err) => {
      if (!err) S.encounterDirty = true;
      else markInvalid(err.code, err.message);
    },
  };
}

function editMessage(target) {
  const c = S.confirmed;
  const p = commonPrefix(c, target);
  const s = commonSuffix(c, target, p);
  const endC = c.length - s;
  let insert = target.slice(p, target.length - s);
  if (insert.length > CHUNK) insert = insert.slice(0, safeCut(insert, CHUNK));   // the rest follows
  const next = c.slice(0, p) + insert + c.slice(endC);
  const startCp = unitToCp(c, p);
  return {
    payload: { type: "edit", start: startCp, end: startCp + cpLen(c.slice(p, endC)), text: insert },
    applied: () => {
      S.confirmed = next;
      S.checkedText = next + S.serverPartial;
      S.checkedFinal = next.length;
    },
    failed: (err) => {
      if (err && (err.code === "EDIT_OUT_OF_RANGE" || err.code === "BAD_EDIT")) resync(false);
    },
  };
}

function commitMessage() {
  const v = ui.text.value;
  const from = S.boundary;
  let end = Math.min(Math.max(S.commitTo, from), v.length);
  if (end === from) end = v.length;
  if (end - from > CHUNK) end = from + safeCut(v.slice(from), CHUNK);
  const text = v.slice(from, end);
  const seq = ++S.seq;
  S.boundary = end;               // optimistic; moved back if the server refuses
  return {
    payload: { type: "segment", seq, text, final: true },
    applied: () => {
      S.confirmed += text;
      S.serverPartial = "";
      S.partialKnown = true;
      S.checkedText = S.confirmed + S.serverPartial;
      S.checkedFinal = S.confirmed.length;
    },
    failed: () => {
      S.boundary = Math.max(0, S.boundary - text.length);
      S.commitTo = Math.min(S.commitTo, S.boundary);
    },
  };
}

function partialMessage(tail) {
  const seq = ++S.seq;
  S.partialDue = false;
  return {
    payload: { type: "segment", seq, text: tail, final: false },
    applied: () => {
      S.serverPartial = tail;
      S.partialKnown = true;
      S.checkedText = S.confirmed + tail;
      S.checkedFinal = S.confirmed.length;
    },
  };
}

function finalizeMessage() {
  return {
    payload: { type: "finalize" },
    failed: () => {
      S.finalizeWanted = false;
      if (!S.refused) ui.text.readOnly = false;
    },
  };
}

function onError(err) {
  const hints = {
    RATE_LIMITED: "It is sent again in a moment.",
    BUSY: "It is sent again in a moment.",
    STORAGE_UNAVAILABLE: "It is sent again in a moment.",
    INTERNAL_ERROR: "It is sent again in a moment.",
    UNKNOWN_CPT: "Correct the CPT code in the encounter.",
    DELETED_CPT: "Choose a current CPT code in the encounter.",
    INVALID_ICD10: "Correct the ICD-10-CM code in the encounter.",
    BAD_SITE: "Choose office or facility.",
    DICTATION_NOT_FOUND: "Start a new dictation, or open the link again from your EHR.",
    DICTATION_FINALIZED: "It can no longer change. Start a new dictation for further text.",
    RESUME_FAILED: "Start a new dictation.",
    NOTE_TOO_LARGE: "The note is longer than scribe accepts; shorten it.",
  };
  showError(err.code, err.message, hints[err.code] || "Your text is kept in the page.");
  if (RETRYABLE.has(err.code)) {
    S.blocked = true;
    clearTimeout(S.retryTimer);
    S.retryTimer = setTimeout(() => {
      S.blocked = false;
      pump();
    }, RETRY_MS);
  } else if (!S.stopped) {
    S.blocked = true;             // until the physician types or changes the encounter
  }
  setStatus();
}

/* The server's final text differs from the page's: read it back (an audited read) and line up.
 * serverWins: a push (e.g. an external speech engine) changed the note, so its text goes into the
 * textarea; otherwise (after a dropped connection) the textarea stays as typed and an edit follows. */
async function resync(serverWins) {
  if (!S.dictationId || S.resyncing) return;
  S.resyncing = true;
  try {
    const detail = await fetchDictation(S.dictationId);
    const server = detail.text || "";
    const v = ui.text.value;
    if (v.startsWith(server)) {      // the page has it all (a lost answer): only the boundary moves
      S.commitTo = Math.max(S.commitTo, S.boundary);
      S.boundary = server.length;
    } else if (serverWins && server.startsWith(v.slice(0, S.boundary))) {
      const added = server.slice(S.boundary);
      ui.text.value = server + v.slice(S.boundary);
      S.prevValue = ui.text.value;
      S.boundary = server.length;
      S.commitTo = S.commitTo + added.length;
    } else if (serverWins && v.slice(0, S.boundary) === S.confirmed) {
      ui.text.value = server + v.slice(S.boundary);
      S.prevValue = ui.text.value;
      S.boundary = server.length;
      S.commitTo = S.boundary;
    }
    S.confirmed = server;
    S.checkedText = server;
    S.checkedFinal = server.length;
    S.partialKnown = false;
    S.blocked = false;
  } catch (e) {
    showError("RESYNC_FAILED", e.message || "the note could not be read back", "Reload the page to continue.");
  } finally {
    S.resyncing = false;
  }
  renderAll();
  pump();
}

function fetchDictation(id) {
  return api(`/api/dictations/${encodeURIComponent(id)}`, { cache: "no-store" });
}

function setAddress(dictationId) {
  const url = new URL(location.href);
  if (dictationId) url.searchParams.set("dictation_id", dictationId);
  else url.searchParams.delete("dictation_id");
  history.replaceState(null, "", url);
}

// -- answers -----------------------------------------------------------------------------------
function onState(state, own) {
  if (typeof state.seq === "number") S.seq = Math.max(S.seq, state.seq);
  if (typeof state.final_length === "number" && state.final_length !== cpLen(S.confirmed) && !S.resyncing) {
    resync(!own);
  }
  noteRaised(state.raised || [], state.resolved || []);
  S.lastState = state;
  renderAll();
}

function onPush(msg) {
  if (msg.type === "state" && (!msg.dictation_id || msg.dictation_id === S.dictationId)) onState(msg, false);
  else if (msg.type === "finalized" && msg.dictation_id === S.dictationId) onFinalized(msg);
  else if (msg.type === "error") showError(msg.code, msg.message, "Your text is kept in the page.");
}

function onFinalized(msg) {
  S.finalized = true;
  S.finalizeWanted = false;
  S.dictationOpen = false;
  ui.text.readOnly = true;
  ui.encFields.disabled = true;
  setAddress(null);
  const gaps = [...(msg.gaps || [])].sort(bySeverity);
  ui.finalizedSummary.textContent = gaps.length
    ? `${countText(gaps)} left open. ${gaps.length === 1 ? "It goes" : "They go"} to the review queue.`
    : encCpts(S.serverEncounter).length ? "No gaps left open. The note is complete for the chosen codes."
      : "No gaps left open in what every report needs. No study code was chosen, so nothing was checked against a code.";
  ui.finalizedGaps.replaceChildren(...gaps.map((g) => el("li",
    { class: `gap sev-line-${g.severity}`, "data-testid": "finalized-gap", dataset: { code: g.code, severity: g.severity } },
    el("div", { class: "gap-static" }, gapHeader(g), el("span", { class: "gap-msg", text: g.message }),
      el("span", { class: "gap-fix" }, el("span", { class: "fix-label", text: "Fix: " }), g.fix)))));
  ui.finalized.hidden = false;
  ui.newDictation.hidden = false;
  loadOthers();
  clearError();
  announceNow(`Dictation finalized. ${gaps.length ? countText(gaps) + " left open" : "No gaps left open"}.`);
  setStatus();
  ui.finalizedTitle.focus({ preventScroll: true });
  ui.finalized.scrollIntoView({ block: "start" });
}

// -- open dictations and questions from scribes -----------------------------------------------
const QUERY_POLL_MS = 30000;

function apiJson(path, { method = "GET", body } = {}) {
  return api(path, { method, body, cache: "no-store" });
}

function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso || "";
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return d.toDateString() === new Date().toDateString() ? `today ${time}`
    : `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

function encounterLine(enc = {}) {
  return [`CPT ${(enc.cpt || []).join(", ") || "none"}`, (enc.icd10 || []).join(", ") || "no ICD-10", enc.provider]
    .filter(Boolean).join(" \u00b7 ");
}

/* The physician's other open dictations (those holding text): reopen or discard. */
/* The plain titles of the gap codes, from the rules (the review queue reads the same). */
async function loadTitles() {
  try {
    const r = await fetch("/api/rules", { cache: "no-store" });
    if (!r.ok) return;
    Object.assign(GAP_TITLES, (await r.json()).titles || {});
  } catch {
    return;                     // a code then reads as a sentence
  }
  renderAll();
  withFocusKept(() => loadQueries());
}

async function loadOthers() {   // listed folded (one line with the count) so the text box stays in view
  let list;
  try {
    list = await apiJson("/api/open-dictations");
  } catch {
    return;                     // not worth troubling the physician: the list is a convenience
  }
  const others = list.filter((d) => d.dictation_id !== S.dictationId);
  ui.othersBadge.textContent = String(others.length);
  ui.othersBadge.setAttribute("aria-label", plural(others.length, "open dictation"));
  ui.others.hidden = others.length === 0;
  ui.othersList.replaceChildren(...others.map(otherItem));
}

function otherItem(d) {
  const href = new URL(location.pathname, location.origin);
  href.searchParams.set("dictation_id", d.dictation_id);
  const discard = el("button", { type: "button", class: "btn btn-small", "data-testid": "open-discard" }, "Discard");
  const li = el("li", { class: "side-item", "data-testid": "open-dictation", dataset: { id: d.dictation_id } },
    el("p", { class: "codes", text: encounterLine(d.encounter) }),
    el("p", { class: "meta", text: `Started ${when(d.created_at)} \u00b7 last change ${when(d.last_activity_at)}` }),
    el("p", { class: "words", "data-testid": "open-words", text: `\u201c${d.first_words}\u201d` }),
    el("p", { class: "row" },
      el("a", { class: "btn btn-small", href: href.toString(), "data-testid": "open-reopen" }, "Reopen"), discard,
      el("span", { class: "muted", role: "status" })));
  discard.addEventListener("click", () => discardOther(d, li, discard));
  return li;
}

async function discardOther(d, li, button) {
  if (button.dataset.confirm !== "1") {           // two steps: a discarded dictation cannot come back
    button.dataset.confirm = "1";
    button.textContent = "Discard for good";
    li.querySelector("[role=status]").textContent = "Its text will be gone from your list.";
    return;
  }
  try {
    await apiJson(`/api/dictations/${encodeURIComponent(d.dictation_id)}/discard`, { method: "POST" });
  } catch (e) {
    li.querySelector("[role=status]").textContent = `Not discarded: ${e.message}`;
    return;
  }
  announceNow("Dictation discarded.");
  await loadOthers();
}

/* Questions scribes sent back about gaps of finalized dictations: a badge, the list, answer in place. */
async function loadQueries() {
  let list;
  try {
    list = await apiJson("/api/queries");
  } catch {
    return;
  }
  ui.queriesBadge.textContent = String(list.length);
  ui.queriesBadge.setAttribute("aria-label", plural(list.length, "question"));
  ui.queries.hidden = list.length === 0;
  renderKeyed(ui.queriesList, list.map((q) => ({ key: String(q.query_id), sig: String(q.query_id), build: () => queryItem(q) })));
}

function queryItem(q) {
  const answer = el("textarea", { rows: "2", maxlength: "2000", "data-testid": "query-answer",
    "aria-label": `Your answer to ${q.by}` });
  const result = el("span", { class: "muted", role: "status", "data-testid": "query-result" });
  const form = el("form", { class: "row" }, answer,
    el("button", { type: "submit", class: "btn btn-small btn-primary", "data-testid": "query-answer-submit" }, "Send answer"), result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = answer.value.trim();
    if (!text) {
      result.textContent = "Write the answer first.";
      return;
    }
    try {
      await apiJson(`/api/queries/${q.query_id}/answer`, { method: "POST", body: { answer: text } });
    } catch (e) {
      result.textContent = `Not sent: ${e.message}`;
      return;
    }
    announceNow(`Answer sent to ${q.by}; it shows in the review queue.`);
    await loadQueries();
  });
  return el("li", { class: "side-item", "data-testid": "query", dataset: { queryId: String(q.query_id), code: q.gap_code } },
    el("p", { class: "meta", text: `${q.by} asked ${when(q.at)} \u00b7 dictation ${q.dictation_id}` }),
    el("p", {}, el("strong", { text: `${gapTitle({ code: q.gap_code })}: ` }), q.gap_message),
    el("p", { class: "question", "data-testid": "query-question", text: `\u201c${q.question}\u201d` }), form);
}

function countText(gaps) {
  return plural(gaps.length, "gap");
}

// -- raised / resolved: marks and announcements ------------------------------------------------
function noteRaised(raised, resolved) {
  const now = Date.now();
  const a = S.announce;
  for (const g of raised) {
    const k = gapKey(g);
    S.raisedAt.set(k, now);
    S.flashed.delete(k);
    if (a.resolved.has(k)) a.resolved.delete(k);
    else a.raised.set(k, g);
  }
  for (const g of resolved) {
    const k = gapKey(g);
    S.raisedAt.delete(k);
    if (a.raised.has(k)) a.raised.delete(k);
    else a.resolved.set(k, g);
  }
  if (raised.length) {
    clearTimeout(S.newTimer);
    S.newTimer = setTimeout(() => withFocusKept(renderGaps), NEW_MARK_MS + 50);
  }
  if (a.raised.size || a.resolved.size) {
    clearTimeout(a.timer);
    a.timer = setTimeout(flushAnnouncement, ANNOUNCE_DELAY_MS);
  }
}

function flushAnnouncement() {
  const a = S.announce;
  const parts = [];
  const name = (g) => `${gapTitle(g)}${g.icd10 ? ` ${g.icd10}` : ""}`;
  if (a.raised.size) {
    const list = [...a.raised.values()].sort(bySeverity);
    parts.push(`New ${list.length === 1 ? "gap" : "gaps"}: ${list.map((g) => `${name(g)} (${SEVERITY[g.severity]?.label.toLowerCase() || g.severity})`).join("; ")}.`);
  }
  if (a.resolved.size) {
    parts.push(`Resolved: ${[...a.resolved.values()].map(name).join("; ")}.`);
  }
  a.raised.clear();
  a.resolved.clear();
  if (parts.length) announceNow(parts.join(" "));
}

/* The live region is a short log: a new line is announced (politely) and shown; the two before
 * it stay in the DOM, hidden, so quick successive changes are not lost. */
function announceNow(text) {
  ui.live.append(el("span", { class: "live-line", text }));
  while (ui.live.children.length > 3) ui.live.firstElementChild.remove();
}

// -- rendering ---------------------------------------------------------------------------------
function renderAll() {
  if (S.pointerDown) {        // a click is under way: the lists must not move under the pointer
    S.renderPending = true;
    return;
  }
  const state = S.lastState;
  withFocusKept(() => {
    renderGaps();
    renderLineGaps();
    renderChecklist(state?.checklist || []);
    renderIndications(state?.indications || []);
  });
  renderSupported(state);
  renderNote();
}

/* Lists are rebuilt on every state; a focused control inside one keeps focus through its data-key. */
function withFocusKept(fn) {
  const active = document.activeElement;
  const key = active?.dataset?.key;
  fn();
  if (key && active !== document.activeElement && !document.body.contains(active)) {
    const again = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
}

function gapHeader(g, isNew = false) {
  const sev = SEVERITY[g.severity] || { label: g.severity };
  const line = g.line != null && (S.serverEncounter?.lines || []).length > 1 ? `line ${g.line + 1}` : null;
  const target = [line, g.cpt, g.icd10].filter(Boolean).join(" \u00b7 ");
  return el("span", { class: "gap-head" },
    el("span", { class: `sev sev-${g.severity}` }, icon(g.severity), sev.label),
    el("span", { class: "gap-title", text: gapTitle(g) }),
    target ? el("span", { class: "gap-target code", text: target }) : null,
    isNew ? el("span", { class: "badge-new", "data-testid": "gap-new", text: "New" }) : null);
}

function renderGaps() {
  const gaps = [...(S.lastState?.gaps || [])].sort(bySeverity);
  const now = Date.now();
  const sel = S.selection?.kind === "gap" ? S.selection.key : null;
  if (sel && !gaps.some((g) => gapKey(g) === sel)) S.selection = null;
  renderKeyed(ui.gaps, gaps.map((g) => {
    const key = gapKey(g);
    const isNew = now - (S.raisedAt.get(key) || 0) < NEW_MARK_MS;
    const selected = key === sel;
    return { key, sig: JSON.stringify([g, isNew, selected, selected ? S.checkedText : ""]), build: () => gapItem(g, key, isNew, selected) };
  }));
  renderGapsTail(gaps);
}

function gapItem(g, key, isNew, selected) {
  const flash = isNew && !S.flashed.has(key);   // the arrival flash plays once, not on every re-render
  if (flash) S.flashed.add(key);
  const button = el("button", {
    type: "button", class: "gap-button", "data-testid": "gap-button", "aria-pressed": String(selected),
    dataset: { key: `gap:${key}` }, onclick: () => selectGap(key), onkeydown: gapKeys,
  },
  gapHeader(g, isNew),
  el("span", { class: "gap-msg", text: g.message }),
  el("span", { class: "gap-fix" }, el("span", { class: "fix-label", text: "Fix: " }), g.fix));
  const detail = selected ? [
    el("p", { class: "gap-evidence", "data-testid": "gap-evidence" }, ...evidenceLine(g)),
    g.source || g.rule_id ? el("p", { class: "gap-source", "data-testid": "gap-source" }, g.source ? `Source: ${g.source}. ` : "",
      g.rule_id ? el("a", { href: `/rules/${encodeURIComponent(g.rule_id)}`, target: "_blank", rel: "noopener",
        "data-testid": "rule-link" }, `Rule ${g.rule_id}`) : null) : null,
  ] : [];
  return el("li", {
    class: `gap sev-line-${g.severity}${flash ? " is-new" : ""}${selected ? " is-selected" : ""}`,
    "data-testid": "gap", dataset: { code: g.code, severity: g.severity, key, new: String(isNew), selected: String(selected) },
  }, button, ...detail);
}

function renderGapsTail(gaps) {
  ui.gapsEmpty.hidden = gaps.length > 0 || !S.lastState;
  ui.gapCount.textContent = S.lastState ? `(${gaps.length})` : "";
  const n = { error: 0, warning: 0, info: 0 };
  for (const g of gaps) n[g.severity] = (n[g.severity] || 0) + 1;
  ui.gapSummary.replaceChildren(...["error", "warning", "info"].filter((s) => n[s]).map((s) =>
    el("span", { class: `sev sev-${s}` }, icon(s),
      s === "info" ? `${n[s]} info` : plural(n[s], SEVERITY[s].label.toLowerCase()))));
}

/* The compact evidence line under a selected gap: each quote in its sentence, the quote marked, so
 * the physician sees it without the page moving away from the text box. */
const CONTEXT_CHARS = 40;

function evidenceLine(g) {
  const evidence = g.evidence || [];
  if (!evidence.length) return [evidenceSummary(evidence, g)];
  const text = S.checkedText;
  const out = [el("span", { class: "ev-label", text: "In the note: " })];
  evidence.slice(0, 3).forEach((e, i) => {
    const at = locate(text, e);
    if (i) out.push(el("span", { class: "ev-sep", text: " \u00b7 " }));
    if (!at) {
      out.push(el("mark", { "data-testid": "evidence-mark", text: e.text }));
      return;
    }
    const [a, b] = at;
    let from = Math.max(0, a - CONTEXT_CHARS);     // the quote's sentence (at most 40 characters each side)
    let to = Math.min(text.length, b + CONTEXT_CHARS);
    const before = text.slice(from, a).search(/[^.!?\n]*$/);
    const cutBefore = from > 0 && before === 0;     // the sentence goes on beyond what is shown
    if (before > 0) from += before;
    const after = text.slice(b, to).search(/[.!?\n]/);
    const cutAfter = to < text.length && after < 0;
    if (after >= 0) to = b + after + (text[b + after] === "\n" ? 0 : 1);
    while (from < a && /\s/.test(text[from])) from++;
    out.push(el("span", { class: "ev-context", "data-testid": "evidence-context" },
      `${cutBefore ? "\u2026" : ""}${text.slice(from, a).replace(/\s+/g, " ")}`,
      el("mark", { "data-testid": "evidence-mark", text: text.slice(a, b) }),
      `${text.slice(b, to).replace(/\s+/g, " ")}${cutAfter ? "\u2026" : ""}`));
  });
  if (evidence.length > 3) out.push(` and ${evidence.length - 3} more`);
  return out;
}

function evidenceSummary(evidence) {
  if (!evidence.length) return "Nothing in the note yet: this gap is about something missing.";
  const quotes = evidence.slice(0, 3).map((e) => `\u201c${e.text}\u201d`).join(", ");
  return `In the note: ${quotes}${evidence.length > 3 ? ` and ${evidence.length - 3} more` : ""}`;
}

function selectGap(key) {
  const same = S.selection?.kind === "gap" && S.selection.key === key;
  S.selection = same ? null : { kind: "gap", key };
  withFocusKept(() => renderGaps());
  renderNote(true);
}

function gapKeys(ev) {
  const buttons = [...ui.gaps.querySelectorAll(".gap-button")];
  const i = buttons.indexOf(ev.currentTarget);
  let to = null;
  if (ev.key === "ArrowDown") to = buttons[Math.min(i + 1, buttons.length - 1)];
  else if (ev.key === "ArrowUp") to = buttons[Math.max(i - 1, 0)];
  else if (ev.key === "Home") to = buttons[0];
  else if (ev.key === "End") to = buttons[buttons.length - 1];
  else if (ev.key === "Escape" && S.selection) {
    S.selection = null;
    ev.preventDefault();
    withFocusKept(() => renderGaps());
    renderNote();
    return;
  }
  if (to) {
    ev.preventDefault();
    to.focus();
  }
}

function selectedEvidence() {
  const state = S.lastState;
  if (!state || !S.selection) return [];
  if (S.selection.kind === "gap") {
    const g = (state.gaps || []).find((x) => gapKey(x) === S.selection.key);
    return g?.evidence || [];
  }
  const item = (state.checklist || []).find((x) => x.id === S.selection.id);
  return item?.evidence || [];
}

/* Evidence offsets are code points into the checked text; a stale offset falls back to the
 * nearest occurrence of the evidence text, and evidence not in the text is not marked. */
function locate(text, ev) {
  const start = cpToUnit(text, ev.start);
  const end = cpToUnit(text, ev.end);
  if (end > start && text.slice(start, end) === ev.text) return [start, end];
  if (!ev.text) return null;
  let best = -1;
  for (let i = text.indexOf(ev.text); i >= 0; i = text.indexOf(ev.text, i + 1)) {
    if (best < 0 || Math.abs(i - start) < Math.abs(best - start)) best = i;
  }
  return best >= 0 ? [best, best + ev.text.length] : null;
}

function renderNote(scroll = false) {
  const text = S.checkedText;
  const finalEnd = Math.min(S.checkedFinal, text.length);
  const spans = selectedEvidence().map((e) => locate(text, e)).filter(Boolean).sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const [a, b] of spans) {
    if (merged.length && a <= merged[merged.length - 1][1]) merged[merged.length - 1][1] = Math.max(merged[merged.length - 1][1], b);
    else merged.push([a, b]);
  }
  const sig = JSON.stringify([text, finalEnd, merged]);
  if (sig === S.noteSig && !scroll) return;        // unchanged: keep it (and any text selected in it)
  S.noteSig = sig;
  const cuts = new Set([0, text.length, finalEnd]);
  for (const [a, b] of merged) { cuts.add(a); cuts.add(b); }
  const points = [...cuts].sort((a, b) => a - b);
  const nodes = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    if (a === b) continue;
    const piece = text.slice(a, b);
    const marked = merged.some(([x, y]) => a >= x && b <= y);
    const partial = a >= finalEnd;
    let node = partial ? el("span", { class: "partial", text: piece }) : document.createTextNode(piece);
    if (marked) node = el("mark", { "data-testid": "highlight" }, node);
    nodes.push(node);
  }
  if (!text) nodes.push(el("span", { class: "muted", text: "Nothing dictated yet." }));
  ui.note.replaceChildren(...nodes);
  const first = ui.note.querySelector("mark");
  // the note view scrolls inside itself only: the page (and the text box) stays where it is, and the
  // evidence shows in place, in the compact line under the selected gap
  if (first && scroll) ui.note.scrollTop = Math.max(0, first.offsetTop - ui.note.clientHeight / 3);
}

function renderChecklist(items) {
  const cpt = [...new Set(encCpts(S.serverEncounter))];
  ui.checkCpt.textContent = cpt.length ? `for ${cpt.join(", ")}` : "every report needs (no study code chosen)";
  const sel = S.selection?.kind === "check" ? S.selection.id : null;
  const gaps = S.lastState?.gaps || [];
  renderKeyed(ui.checklist, items.map((item) => {
    const selected = item.id === sel;
    const open = gaps.filter((g) => (item.gaps || []).includes(g.code)).sort(bySeverity);
    return { key: item.id, sig: JSON.stringify([item, selected, open.map(gapKey)]), build: () => checkItem(item, selected, open) };
  }));
}

function checkItem(item, selected, open) {
  const evidence = item.evidence || [];
  const detail = [];
  if (evidence.length) {
    const quote = evidence.map((e) => `\u201c${e.text}\u201d`).join(", ");
    detail.push(el("button", {
      type: "button", class: "check-evidence", "data-testid": "check-evidence", "aria-pressed": String(selected),
      title: "Show in the checked text",
      dataset: { key: `check:${item.id}` }, onclick: () => selectCheck(item.id),
    }, quote));
  } else if (item.met) {
    detail.push(el("span", { class: "check-detail muted", text: "OK" }));
  }
  if (!item.met) {
    if (!evidence.length && !open.length) detail.push(el("span", { class: "check-detail muted", text: "Not yet documented" }));
    for (const g of open) {
      detail.push(el("button", {
        type: "button", class: "check-gap", "data-testid": "check-gap", dataset: { key: `checkgap:${item.id}:${gapKey(g)}`, code: g.code },
        onclick: () => showGap(gapKey(g)),
      }, el("span", { "aria-hidden": "true", text: "\u2192 " }), `Gap: ${gapTitle(g)}`));
    }
  }
  return el("li", {
    class: `check-item ${item.met ? "is-met" : "is-open"}`, "data-testid": "check-item",
    dataset: { id: item.id, met: String(Boolean(item.met)) },
  },
  el("span", { class: "check-icon", "aria-hidden": "true", text: item.met ? "\u2713" : "\u25CB" }),
  el("span", { class: "check-body" },
    el("span", { class: "visually-hidden", text: item.met ? "Met: " : "Not met: " }),
    el("span", { class: "check-label", text: item.label }), " ", ...detail));
}

/* From the checklist to the gap that keeps an item open: select it and move focus there. */
function showGap(key) {
  S.selection = { kind: "gap", key };
  renderAll();
  const button = document.querySelector(`[data-key="${CSS.escape(`gap:${key}`)}"]`);
  if (button) {
    button.focus({ preventScroll: true });
    button.scrollIntoView({ block: "center" });
  }
  renderNote(true);
}

function selectCheck(id) {
  const same = S.selection?.kind === "check" && S.selection.id === id;
  S.selection = same ? null : { kind: "check", id };
  withFocusKept(() => {
    renderGaps();
    renderLineGaps();
    renderChecklist(S.lastState?.checklist || []);
  });
  renderNote(true);
}

function renderIndications(list) {
  const inEncounter = new Set(codes(ui.icd10.value));
  const groups = new Map();
  for (const ind of list) {
    const top = ind.icd10?.[0]?.code || "";
    const k = `${top || ind.concept}|${ind.assertion}`;
    if (!groups.has(k)) groups.set(k, { key: k, top, assertion: ind.assertion, mentions: [], candidates: ind.icd10 || [] });
    const g = groups.get(k);
    if (!g.mentions.includes(ind.text)) g.mentions.push(ind.text);
  }
  const order = ["present", "historical", "possible", "hypothetical", "family", "negated"];
  const rank = (a) => (order.includes(a) ? order.indexOf(a) : order.length);
  const sorted = [...groups.values()].sort((a, b) => rank(a.assertion) - rank(b.assertion));
  renderKeyed(ui.indications, sorted.map((g) => ({
    key: g.key,
    sig: JSON.stringify([g, g.candidates.map((c) => inEncounter.has(c.code))]),
    build: () => indicationItem(g, inEncounter),
  })));
  ui.indicationsEmpty.hidden = groups.size > 0;
}

function indicationItem(g, inEncounter) {
  const codable = CODABLE.has(g.assertion);
  const [first, ...others] = g.candidates;
  if (!codable) {
    return el("li", { class: "indication is-uncodable", "data-testid": "indication", dataset: { code: g.top, assertion: g.assertion } },
      el("span", { class: "ind-head" },
        el("span", { class: "ind-text", text: g.mentions.map((m) => `\u201c${m}\u201d`).join(", ") }),
        el("span", { class: `assertion assertion-${g.assertion}`, "data-testid": "assertion", text: g.assertion })),
      el("span", { class: "muted not-codable", text: UNCODED[g.assertion] || "not coded" }));
  }
  return el("li", { class: "indication", "data-testid": "indication", dataset: { code: g.top, assertion: g.assertion } },
    el("span", { class: "ind-head" },
      el("span", { class: "ind-text", text: g.mentions.map((m) => `\u201c${m}\u201d`).join(", ") }),
      el("span", { class: `assertion assertion-${g.assertion}`, "data-testid": "assertion", text: g.assertion })),
    first ? codeRow(first, inEncounter) : el("span", { class: "muted ind-nocode", text: "No ICD-10-CM code suggested" }),
    others.length ? el("details", { class: "ind-more" },
      el("summary", { text: `Other codes (${others.length})` }),
      el("ul", {}, ...others.map((c) => el("li", {}, codeRow(c, inEncounter))))) : null);
}

function codeRow(candidate, inEncounter) {
  const action = inEncounter.has(candidate.code)
    ? el("span", { class: "in-encounter", "data-testid": "icd10-in-encounter", tabindex: "-1",
      dataset: { key: `add:${candidate.code}`, code: candidate.code } },
    el("span", { "aria-hidden": "true", text: "\u2713 " }), "In encounter")
    : el("button", {
      type: "button", class: "btn btn-small", "data-testid": "add-icd10", "aria-label": `Add ${candidate.code} to the encounter`,
      dataset: { key: `add:${candidate.code}`, code: candidate.code }, onclick: () => addCode(candidate.code),
    }, "Add");
  return el("span", { class: "code-row" },
    el("span", { class: "code", text: candidate.code }),
    el("span", { class: "code-desc", text: candidate.description }), action);
}

function addCode(code) {
  const current = codes(ui.icd10.value);
  if (!current.includes(code)) current.push(code);
  ui.icd10.value = current.join(", ");
  withFocusKept(() => renderIndications(S.lastState?.indications || []));
  onEncounterChanged();
}

function renderSupported(state) {
  const supported = state?.supported_cpt || [];
  const chosen = encCpts(S.serverEncounter);
  const differs = supported.length > 0 && !chosen.every((c) => supported.includes(c));
  ui.supported.hidden = !differs;
  if (differs) {
    ui.supported.textContent = chosen.length
      ? `The note as dictated supports CPT ${supported.join(" or ")}, not ${chosen.join(", ")}.`
      : `The note as dictated supports CPT ${supported.join(" or ")}.`;
  }
}

// -- status and errors -------------------------------------------------------------------------
function setStatus() {
  let state, text;
  const encounterRefused = S.errorGroup === "encounter";      // checked against the last valid encounter
  const synced = S.open && S.dictationOpen && !S.pumping && !hasWork() && !S.resyncing && !encounterRefused;
  if (S.refused) [state, text] = ["refused", "Not allowed"];
  else if (S.finalized) [state, text] = ["finalized", "Finalized"];
  else if (S.stopped) [state, text] = ["stopped", "Stopped"];
  else if (!S.open) [state, text] = [S.ws && S.reconnectDelay > 500 ? "offline" : "connecting",
    S.ws && S.reconnectDelay > 500 ? "Offline, reconnecting. Your text is kept." : "Connecting\u2026"];
  else if (!S.dictationOpen) [state, text] = ["connecting", S.blocked ? "Waiting for a valid encounter" : "Opening the dictation\u2026"];
  else if (synced) [state, text] = ["live", "Up to date"];
  else if (encounterRefused) [state, text] = ["live", "Encounter not applied (see the message above)"];
  else [state, text] = ["live", S.blocked ? "Not sent (see the message above)" : "Checking\u2026"];
  ui.status.dataset.state = state;
  ui.status.dataset.synced = String(synced);
  ui.statusText.textContent = text;
  ui.finalize.disabled = !S.dictationOpen || S.finalized || S.finalizeWanted || S.refused;
  ui.finalize.hidden = S.finalized;
}

function showError(code, message, hint, { dismissable = true } = {}) {
  S.errorGroup = null;
  ui.errorText.replaceChildren(
    el("strong", { text: code ? `${code}: ` : "" }), message || "", hint ? el("span", { class: "error-hint", text: ` ${hint}` }) : null);
  ui.errorDismiss.hidden = !dismissable;
  ui.error.dataset.code = code || "";
  ui.error.hidden = false;
}

function clearError() {
  S.errorGroup = null;
  ui.error.hidden = true;
  ui.error.dataset.code = "";
  setStatus();
}

// -- typing ------------------------------------------------------------------------------------
function onInput(ev) {
  const v = ui.text.value;
  const prev = S.prevValue;
  const p = commonPrefix(prev, v);
  const s = commonSuffix(prev, v, p);
  const pe = prev.length - s;
  const delta = v.length - prev.length;
  S.boundary = shift(S.boundary, p, pe, delta);
  S.commitTo = Math.max(S.boundary, shift(S.commitTo, p, pe, delta));
  S.prevValue = v;
  if (ev.inputType === "insertFromPaste" || ev.inputType === "insertFromDrop") {
    S.commitTo = v.length;
  } else {
    const end = lastBoundary(v.slice(S.boundary));
    if (end) S.commitTo = Math.max(S.commitTo, S.boundary + end);
  }
  S.blocked = false;
  schedulePartial();
  pump();
  setStatus();
}

function schedulePartial() {
  clearTimeout(S.partialTimer);
  const now = performance.now();
  if (!S.partialFirst) S.partialFirst = now;
  const wait = Math.max(0, Math.min(PARTIAL_DELAY_MS, S.partialFirst + PARTIAL_MAX_WAIT_MS - now));
  S.partialTimer = setTimeout(() => {
    S.partialFirst = 0;
    S.partialDue = true;
    pump();
  }, wait);
}

function commitAll() {
  if (S.finalized || ui.text.readOnly) return;
  S.commitTo = ui.text.value.length;
  S.partialDue = true;
  S.blocked = false;
  pump();
}

function finalize() {
  if (!S.dictationOpen || S.finalized) return;
  ui.text.readOnly = true;
  S.commitTo = ui.text.value.length;
  S.finalizeWanted = true;
  S.blocked = false;
  setStatus();
  pump();
}

function newDictation() {
  Object.assign(S, {
    dictationId: null, startAcked: false, resuming: false, dictationOpen: false, finalized: false, stopped: false,
    confirmed: "", boundary: 0, commitTo: 0, prevValue: "", serverPartial: "", partialKnown: true,
    partialDue: false, serverEncounter: null, encounterDirty: false, finalizeWanted: false, blocked: false,
    lastState: null, checkedText: "", checkedFinal: 0, selection: null,
  });
  S.raisedAt.clear();
  ui.text.value = "";
  ui.text.readOnly = false;
  ui.encFields.disabled = false;
  ui.finalized.hidden = true;
  ui.newDictation.hidden = true;
  setAddress(null);
  clearError();
  renderAll();
  ui.text.focus();
  if (!S.open && !S.refused) connect();
  else pump();
}

// -- keyboard shortcuts (named in the page: the footer's key hint, title and aria-keyshortcuts) ----
/* Ctrl+Enter (Cmd+Enter on a Mac) finalizes; Alt+W jumps to the warnings (the first gap, or the
 * selected one), Alt+T back to the text box, keeping the caret where it was. */
function onShortcut(ev) {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !ev.altKey && !ev.shiftKey) {
    ev.preventDefault();
    if (!ui.finalize.disabled && !ui.finalize.hidden) finalize();
    return;
  }
  if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const key = ev.key.toLowerCase();
  if (key === "w" || ev.code === "KeyW") {
    ev.preventDefault();
    const selected = ui.gaps.querySelector(".gap-button[aria-pressed=true]");
    const target = selected || ui.gaps.querySelector(".gap-button");
    if (target) target.focus({ preventScroll: true });
    else ui.gapsEmpty.focus({ preventScroll: true });
    (target || ui.gapsEmpty).scrollIntoView({ block: "nearest" });
  } else if (key === "t" || ev.code === "KeyT") {
    ev.preventDefault();
    ui.text.focus({ preventScroll: true });
    ui.text.scrollIntoView({ block: "nearest" });
  }
}

// -- start -------------------------------------------------------------------------------------
async function init() {
  const fromUrl = encounterFromUrl();
  fillEncounter(fromUrl);
  loadCatalogue();
  ui.encBox.open = encCpts(fromUrl).length === 0;  // an EHR launch pre-fills it: folded to its summary
  renderAll();
  ui.text.addEventListener("input", onInput);
  ui.text.addEventListener("blur", commitAll);
  for (const f of [ui.icd10, ui.site, ui.provider]) {
    f.addEventListener("change", onEncounterChanged);
  }
  ui.lines.addEventListener("change", (ev) => {
    if (ev.target.matches(".line-cpt, .line-mod")) onLineFieldChanged();
  });
  ui.addLine.addEventListener("click", addLine);
  ui.encForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    onLineFieldChanged();
    if (encCpts(readEncounter()).length) {     // Enter in a filled form: on to the dictation
      foldEncounterIfFilled();
      ui.text.focus();
    }
  });
  ui.encForm.addEventListener("keydown", (ev) => {   // Enter in a field (the form has no submit button)
    if (ev.key !== "Enter" || ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.tagName !== "INPUT") return;
    ev.preventDefault();
    ui.encForm.requestSubmit();
  });
  ui.encBox.addEventListener("focusout", (ev) => {
    // a line redrawn under the focus moves it to its new control within the form: that is no leaving
    if (!ev.relatedTarget || !ui.encBox.contains(ev.relatedTarget)) {
      setTimeout(() => { if (!ui.encBox.contains(document.activeElement)) foldEncounterIfFilled(); }, 0);
    }
  });
  document.addEventListener("keydown", onShortcut);
  document.addEventListener("pointerdown", () => { S.pointerDown = true; }, true);
  const release = () => {
    S.pointerDown = false;
    setTimeout(() => {        // after the click this pointer-up completes
      if (S.renderPending && !S.pointerDown) {
        S.renderPending = false;
        renderAll();
      }
    }, 0);
  };
  document.addEventListener("pointerup", release, true);
  document.addEventListener("pointercancel", release, true);
  ui.errorDismiss.addEventListener("click", clearError);
  ui.chooseCpt.addEventListener("click", chooseCpt);
  ui.finalize.addEventListener("click", finalize);
  ui.newDictation.addEventListener("click", newDictation);
  window.addEventListener("beforeunload", (ev) => {
    if (hasWork() && !S.refused && (S.dictationOpen || ui.text.value)) ev.preventDefault();
  });
  const session = await openSession();
  if (!session.ok) {
    refuse(session.status === 0 ? { code: "UNAUTHENTICATED", message: "no access_token in the address." }
      : session.status === -1 ? { code: "UNREACHABLE", message: session.message }
        : { code: session.code === "TOKEN_EXPIRED" ? "TOKEN_EXPIRED" : "BAD_TOKEN", message: session.message });
    return;
  }
  loadTitles();
  loadOthers();
  loadQueries();
  setInterval(loadQueries, QUERY_POLL_MS);
  if (S.dictationId) await loadDictation();
  else connect();
}

/* Opened with dictation_id: the note so far comes back from the server (the page stores none). */
async function loadDictation() {
  setStatus();
  let detail;
  try {
    detail = await fetchDictation(S.dictationId);
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      refuse({ code: e.status === 403 ? "FORBIDDEN" : "BAD_TOKEN", message: e.message });
    } else if (!e.status || e.status >= 500) {         // unreachable for now: try again
      showError("UNREACHABLE", "scribe cannot be reached to reopen the dictation.", "Trying again in a few seconds.");
      setTimeout(loadDictation, 3000);
    } else {
      S.stopped = true;
      ui.newDictation.hidden = false;
      showError(e.code || "NOT_FOUND", e.message, "Start a new dictation, or open the link again from your EHR.");
      setStatus();
    }
    return;
  }
  clearError();
  fillEncounter(detail.encounter || {});
  ui.encBox.open = !encCpts(detail.encounter).length;
  S.serverEncounter = readEncounter();
  // the final text and the pending partial (the unfinished sentence, stored with each partial) come back
  const partial = detail.status === "finalized" ? "" : detail.partial || "";
  S.confirmed = detail.text || "";
  ui.text.value = S.confirmed + partial;
  S.prevValue = ui.text.value;
  S.boundary = S.commitTo = S.confirmed.length;
  S.serverPartial = partial;
  S.partialKnown = false;
  S.checkedText = S.confirmed + partial;
  S.checkedFinal = S.confirmed.length;
  if (partial || S.confirmed) announceNow("Your dictation was restored as it was last stored.");
  if (detail.status === "finalized") {
    onFinalized({ dictation_id: S.dictationId, gaps: (detail.gaps || []).filter((g) => g.status === "open") });
    renderNote();
    return;
  }
  connect();
}

init();
