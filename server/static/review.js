// The review queue page (scribes and coders). No data lives in the page: everything comes
// from the JSON API, called with the access_token of the page's URL as a Bearer token.
// Reading a dictation's detail is audited by the server.

import { $, $$, PAGE, api, el, formFromUrl, notice, pad, signIn } from "./page.js";

const FILTERS = ["provider", "cpt", "gap_code", "date_from", "date_to"];
const SEVERITY_RANK = { error: 0, warning: 1, info: 2 };
const PAGE_SIZE = 50;

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const timeEl = (iso) => el("time", { datetime: iso, text: when(iso) });

function refuse(message) {
  notice(message);
  $("#app").remove();               // nothing of the queue stays in the page
  document.body.dataset.ready = "refused";
}

// -- state ----------------------------------------------------------------------------------
/* Plain titles of the gap codes, from the rules (GET /api/rules): the same as the sidebar's. */
const TITLES = {};
const titleOf = (code) => TITLES[code] || code;

const state = { items: [], total: 0, selected: PAGE.searchParams.get("d"), detail: null, reasons: {}, queueAsked: 0 };

function currentFilters() {
  const form = $("#filters");
  const out = new URLSearchParams();
  for (const name of FILTERS) {
    const value = form.elements[name].value.trim();
    if (value) out.set(name, value);
  }
  for (const box of $$("input[name=severity]:checked", form)) out.append("severity", box.value);
  return out;
}

function syncUrl() {
  const url = new URL(location.href);
  for (const name of [...FILTERS, "severity", "d"]) url.searchParams.delete(name);
  for (const [k, v] of currentFilters()) url.searchParams.append(k, v);
  if (state.selected) url.searchParams.set("d", state.selected);
  history.replaceState(null, "", url);
}

function filtersFromUrl() {
  const form = $("#filters");
  formFromUrl(form, FILTERS);
  const severities = PAGE.searchParams.getAll("severity");
  for (const box of $$("input[name=severity]", form)) box.checked = severities.includes(box.value);
}

// -- filters --------------------------------------------------------------------------------
async function loadFacets() {
  const facets = await api("/api/review/facets");
  const form = $("#filters");
  const fill = (name, values) => {
    const select = form.elements[name];
    const keep = select.value;
    const first = select.options[0];
    select.replaceChildren(first, ...values.map((v) => el("option", { value: v, text: v })));
    if (keep && !values.includes(keep)) select.append(el("option", { value: keep, text: keep }));
    select.value = keep;
  };
  fill("provider", facets.providers);
  fill("cpt", facets.cpt);
  fill("gap_code", facets.gap_codes);
}

// -- queue ----------------------------------------------------------------------------------
async function loadQueue({ append = false } = {}) {
  const query = currentFilters();
  query.set("limit", PAGE_SIZE);
  query.set("offset", append ? state.items.length : 0);
  const asked = ++state.queueAsked;         // answers can arrive out of order: only the last question's counts
  let page;
  try {
    page = await api(`/api/review?${query}`);
  } catch (err) {
    if (asked === state.queueAsked) notice(`The queue could not be loaded: ${err.message}`);
    return;
  }
  if (asked !== state.queueAsked) return;
  state.items = append ? state.items.concat(page.items) : page.items;
  state.total = page.total;
  renderQueue();
}

function renderQueue() {
  const list = $("#queue");
  list.replaceChildren(...state.items.map(queueItem));
  $("#queue-total").textContent = `(${state.total})`;
  $("#queue-empty").hidden = state.items.length > 0;
  $("#more").hidden = state.items.length >= state.total;
}

/* Claim lines: each its CPT code and its own modifiers ("73562-RT"). A row stored before claim
 * lines (or without them) reads as one line per code, each with every modifier (the server says so). */
const lineText = (line) => [line.cpt, ...(line.modifiers || [])].join("-");

function linesText(lines, enc = {}) {
  const list = lines && lines.length ? lines : (enc.cpt || []).map((cpt) => ({ cpt, modifiers: enc.modifiers || [] }));
  return list.map(lineText).join(", ") || "none";
}

function lineTag(gap, lines) {     // which claim line a gap is about, when there are several
  return gap.line != null && lines && lines.length > 1 ? ` (line ${gap.line + 1})` : "";
}

function queueItem(item) {
  const enc = item.encounter || {};
  const gaps = [...item.open_gaps].sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
  const button = el("button", {
    type: "button", class: "queue-item", "data-testid": "queue-item", "data-dictation-id": item.dictation_id,
    "aria-current": item.dictation_id === state.selected ? "true" : null,
  },
  el("span", { class: "qi-top" },
    el("span", { class: "qi-provider", "data-testid": "queue-provider", text: item.provider }),
    el("span", { class: "qi-when" }, timeEl(item.finalized_at))),
  el("span", { class: "qi-codes", "data-testid": "queue-codes",
               text: `CPT ${linesText(item.lines, enc)} · ICD-10 ${(enc.icd10 || []).join(", ") || "none"}` }),
  el("span", { class: "qi-gaps" }, ...gaps.map((g) => el("span", {
    class: `chip sev-${g.severity}`, "data-testid": "queue-gap", "data-severity": g.severity,
    title: g.code, "data-code": g.code, "data-line": g.line ?? null,
    text: `${titleOf(g.code)}${lineTag(g, item.lines)}${g.queried ? " (queried)" : g.answered ? " (answered)" : ""}`,
  }))));
  button.addEventListener("click", () => openDetail(item.dictation_id, { focus: true }));
  return el("li", {}, button);
}

function queueKeys(event) {
  const items = $$(".queue-item");
  const i = items.indexOf(document.activeElement);
  if (i < 0) return;
  const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  items[Math.max(0, Math.min(items.length - 1, to))].focus();
}

// -- detail ---------------------------------------------------------------------------------
async function openDetail(id, { focus = false } = {}) {
  state.selected = id;
  syncUrl();
  for (const b of $$(".queue-item")) {
    if (b.dataset.dictationId === id) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  }
  let detail;
  try {
    detail = await api(`/api/review/${encodeURIComponent(id)}`);
  } catch (err) {
    if (state.selected !== id) return;
    state.detail = null;
    $("#detail-body").hidden = true;
    $("#detail-empty").hidden = false;
    $("#detail-empty").textContent = err.status === 404 ? `Dictation ${id} is not in the queue (or no longer exists).`
      : `The dictation could not be loaded: ${err.message}`;
    return;
  }
  if (state.selected !== id) return;          // another dictation was chosen while this one loaded
  state.detail = detail;
  renderDetail();
  if (focus) $("#detail-heading").focus();
}

function renderDetail() {
  const d = state.detail;
  const enc = d.encounter || {};
  $("#detail-empty").hidden = true;
  $("#detail-body").hidden = false;
  $("#detail-heading").textContent = `${d.provider}: CPT ${(enc.cpt || []).join(", ")}`;
  const lines = d.lines && d.lines.length ? d.lines : (enc.cpt || []).map((cpt) => ({ cpt, modifiers: enc.modifiers || [] }));
  const lineList = lines.length
    ? el("ol", { class: "claim-lines", "data-testid": "claim-lines" }, ...lines.map((line, i) => el("li", {
      class: "claim-line", "data-testid": "claim-line", "data-line": String(i), "data-cpt": line.cpt,
      "data-modifiers": (line.modifiers || []).join(","),
    }, el("span", { class: "cl-cpt", text: line.cpt }), " ",
       el("span", { class: "cl-mods", text: (line.modifiers || []).length ? `modifiers ${line.modifiers.join(", ")}` : "no modifier" }),
       ...lineGaps(d.gaps, i))))
    : "none";
  const meta = [["Dictation", d.dictation_id], ["Provider", d.provider], ["Physician account", d.owner],
    ["Claim lines", lineList], ["ICD-10-CM", (enc.icd10 || []).join(", ") || "none"], ["Site", enc.site || ""],
    ["Finalized", when(d.finalized_at)]];
  $("#detail-meta").replaceChildren(...meta.flatMap(([k, v]) => [el("dt", { text: k }),
    typeof v === "string" ? el("dd", { text: v }) : el("dd", {}, v)]));
  const open = d.gaps.filter((g) => g.status === "open");
  setStatus(open.length ? "" : "No open gaps are left: this dictation has left the queue.");
  renderNote($("#note"), d.text, d.gaps);
  $("#addenda").replaceChildren(...(d.addenda.length ? [el("h4", { text: "Addenda" })] : []),
    ...d.addenda.map((a) => el("div", { class: "addendum", "data-testid": "addendum-text" },
      el("p", { class: "by" }, `Addendum by ${a.by}, `, timeEl(a.at)), el("p", { class: "text", text: a.text }))));
  const gaps = [...d.gaps].sort((a, b) => (a.status === "open" ? 0 : 1) - (b.status === "open" ? 0 : 1)
    || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.id - b.id);
  $("#gaps").replaceChildren(...gaps.map(gapCard));
  renderHistory(d.gaps);
}

function lineGaps(gaps, i) {      // the open gaps about claim line i, after the line in the detail's list
  const mine = gaps.filter((g) => g.line === i && g.status === "open");
  return mine.length ? [" ", el("span", { class: "cl-gaps", "data-testid": "claim-line-gaps" },
    `: ${mine.map((g) => titleOf(g.code)).join("; ")}`)] : [];
}

function setStatus(message) {
  $("#detail-status").textContent = message;
}

function renderNote(box, text, gaps) {
  const spans = [];
  for (const gap of gaps) {
    for (const ev of gap.evidence || []) {
      const { start, end } = ev;
      if (Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end && end <= text.length) {
        spans.push({ start, end, gap });
      }
    }
  }
  const cuts = [...new Set([0, text.length, ...spans.flatMap((s) => [s.start, s.end])])].sort((a, b) => a - b);
  box.replaceChildren();
  for (let i = 0; i < cuts.length - 1; i++) {
    const [a, b] = [cuts[i], cuts[i + 1]];
    const piece = text.slice(a, b);
    const covering = [...new Map(spans.filter((s) => s.start <= a && s.end >= b).map((s) => [s.gap.id, s.gap])).values()];
    if (!covering.length) {
      box.append(piece);
      continue;
    }
    const open = covering.filter((g) => g.status === "open");
    const worst = (open.length ? open : covering).sort((x, y) => SEVERITY_RANK[x.severity] - SEVERITY_RANK[y.severity])[0];
    const mark = el("mark", {
      class: `ev sev-${worst.severity}${open.length ? "" : " closed"}`, "data-testid": "evidence",
      "data-gap-ids": covering.map((g) => g.id).join(" "), "data-gap-codes": covering.map((g) => g.code).join(" "),
      title: covering.map((g) => `${g.code} (${g.severity}, ${g.status})`).join("; "), text: piece,
    });
    mark.addEventListener("click", () => {
      const card = $(`.gap[data-gap-id="${covering[0].id}"]`);
      if (card) {
        card.scrollIntoView({ block: "nearest" });
        card.focus();
      }
    });
    box.append(mark);
  }
}

function showEvidence(gapId) {
  let first = null;
  for (const mark of $$("#note mark")) {
    const hit = mark.dataset.gapIds.split(" ").includes(String(gapId));
    mark.classList.toggle("active", hit);
    if (hit && !first) first = mark;
  }
  if (first) first.scrollIntoView({ block: "center" });
}

const STATUS_TEXT = { open: "open", resolved: "resolved", dismissed: "dismissed" };

function gapCard(gap) {
  const card = $("#gap-template").content.firstElementChild.cloneNode(true);
  Object.assign(card.dataset, { gapId: gap.id, gapCode: gap.code, status: gap.status, severity: gap.severity });
  card.tabIndex = -1;
  card.classList.add(`sev-${gap.severity}`, `status-${gap.status}`);
  $("[data-testid=gap-severity]", card).textContent = gap.severity;
  $("[data-testid=gap-severity]", card).className = `badge sev-${gap.severity}`;
  $("[data-testid=gap-title]", card).textContent = titleOf(gap.code);
  const lines = state.detail?.lines || [];
  const line = gap.line != null ? lines[gap.line] : null;
  $("[data-testid=gap-code]", card).textContent = gap.code
    + (line && lines.length > 1 ? ` (claim line ${gap.line + 1}: ${lineText(line)})` : gap.cpt ? ` (CPT ${gap.cpt})` : "")
    + (gap.icd10 ? ` (${gap.icd10})` : "");
  if (gap.line != null) card.dataset.line = String(gap.line);
  const answers = (gap.actions || []).filter((a) => a.action === "answer");
  $("[data-testid=gap-status]", card).textContent = STATUS_TEXT[gap.status]
    + (gap.queried ? ", queried" : answers.length ? ", answered" : "");
  if (answers.length) {                // the physician's answer to a query, in place on the gap
    const last = answers[answers.length - 1];
    const box = $("[data-testid=gap-answer]", card);
    box.hidden = false;
    box.append(el("span", { class: "label", text: `Physician's answer (${last.by}, ` }), timeEl(last.at),
               el("span", { class: "label", text: "): " }), el("span", { class: "said", text: `\u201c${last.text}\u201d` }));
  }
  $("[data-testid=gap-message]", card).textContent = gap.message;
  $("[data-testid=gap-fix]", card).textContent = gap.fix;
  $("[data-testid=gap-source]", card).textContent = gap.source;
  if (gap.rule_id) {
    $("[data-testid=gap-source]", card).after(" ", el("a", {
      href: `/rules/${encodeURIComponent(gap.rule_id)}`, target: "_blank", rel: "noopener", "data-testid": "rule-link",
      text: `Rule ${gap.rule_id}` }));
  }
  const evidence = $(".evidence-line", card);
  const quotes = (gap.evidence || []).filter((e) => e.text);
  if (quotes.length) {
    const show = el("button", { type: "button", class: "quiet small", "data-testid": "show-evidence",
                                text: "Show in note" });
    show.addEventListener("click", () => showEvidence(gap.id));
    evidence.append(el("span", { class: "label", text: "Evidence: " }),
                    quotes.map((e) => `“${e.text}”`).join(", "), " ", show);
  } else {
    evidence.append(el("span", { class: "label", text: "Evidence: " }), "no passage of the note (what is needed is absent, or the gap is about the chosen codes)");
  }
  const actions = $(".actions", card);
  if (gap.status !== "open") {
    actions.remove();
    $$("form", card).forEach((f) => f.remove());
    return card;
  }
  const select = $("[data-testid=dismiss-reason]", card);
  for (const [key, label] of Object.entries(state.reasons)) select.append(el("option", { value: key, text: label }));
  const labelled = (suffix) => `${suffix}-${gap.id}`;
  for (const button of $$(".act", card)) {
    const form = $(`form[data-form=${button.dataset.act}]`, card);
    form.id = labelled(`form-${button.dataset.act}`);
    button.setAttribute("aria-controls", form.id);
    button.addEventListener("click", () => toggleForm(card, button.dataset.act));
  }
  for (const form of $$("form", card)) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitAction(card, gap, form.dataset.form, form);
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") toggleForm(card, null);
    });
    $(".cancel", form).addEventListener("click", () => toggleForm(card, null));
  }
  return card;
}

function toggleForm(card, which) {
  let opened = null;
  let closed = null;
  for (const button of $$(".act", card)) {
    const form = $(`form[data-form=${button.dataset.act}]`, card);
    const show = button.dataset.act === which && form.hidden;
    if (!form.hidden && !show) closed = button;
    form.hidden = !show;
    button.setAttribute("aria-expanded", String(show));
    if (show) opened = form;
  }
  if (opened) $("textarea, select", opened).focus();
  else if (closed && which === null) closed.focus();      // Escape or Cancel: back to the button
}

function result(card, message, kind) {
  const box = $("[data-testid=gap-result]", card);
  box.className = `result ${kind}`;
  box.replaceChildren(...(Array.isArray(message) ? message : [message]));
}

async function submitAction(card, gap, action, form) {
  const data = new FormData(form);
  let body;
  if (action === "resolve") body = { addendum: String(data.get("addendum") || "").trim() };
  if (action === "query") body = { question: String(data.get("question") || "").trim() };
  if (action === "dismiss") {
    body = { reason: data.get("reason"), note: String(data.get("note") || "").trim() || null };
    if (!body.reason) return result(card, "Choose a reason for the dismissal.", "error");
    if (body.reason === "other" && !body.note) return result(card, "Say why in the note: the reason is 'other'.", "error");
  }
  if ((action === "resolve" && !body.addendum) || (action === "query" && !body.question)) {
    return result(card, action === "resolve" ? "Write the addendum first." : "Write the question first.", "error");
  }
  const submit = $("button[type=submit]", form);
  submit.disabled = true;
  result(card, action === "resolve" ? "Checking the note with the addendum…" : "Saving…", "pending");
  let out;
  try {
    out = await api(`/api/review/gaps/${gap.id}/${action}`, { method: "POST", body });
  } catch (err) {
    submit.disabled = false;
    if (err.code === "GAP_STILL_PRESENT") {
      const still = (err.extra.recheck_gaps || []).map((g) => g.code);
      return result(card, [el("strong", { text: "Not resolved: " }), err.message,
        el("br"), `Gaps in the re-checked note: ${still.join(", ") || "none"}.`], "error");
    }
    return result(card, `${err.message}`, "error");
  }
  let message;
  if (action === "resolve") {
    const also = (out.also_resolved || []).map((id) => codeOf(id)).filter(Boolean);
    const left = (out.recheck_gaps || []).map((g) => g.code);
    message = `${gap.code} resolved: the re-checked note no longer has it.`
      + (also.length ? ` The addendum also closed ${also.join(", ")}.` : "")
      + ` Gaps in the re-checked note: ${left.join(", ") || "none"}.`;
  } else if (action === "dismiss") {
    message = `${gap.code} dismissed (${state.reasons[body.reason] || body.reason}).`;
  } else {
    message = `Query about ${gap.code} sent to the physician; the gap stays open.`;
  }
  await refreshAfterAction();
  setStatus(message + (state.detail && !state.detail.gaps.some((g) => g.status === "open")
    ? " No open gaps are left: this dictation has left the queue." : ""));
  const again = $(`.gap[data-gap-id="${gap.id}"]`);
  if (again) {
    result(again, message, "ok");
    again.focus();
  }
}

function codeOf(gapId) {
  const g = state.detail && state.detail.gaps.find((x) => x.id === gapId);
  return g ? g.code : null;
}

async function refreshAfterAction() {
  const id = state.selected;
  await Promise.all([openDetail(id), loadQueue(), loadFacets().catch(() => {})]);
}

const ACTION_TEXT = { resolve: "resolved", dismiss: "dismissed", query: "queried the physician about",
                      answer: "answered the query about" };

function renderHistory(gaps) {
  const codes = Object.fromEntries(gaps.map((g) => [g.id, g.code]));
  const actions = gaps.flatMap((g) => g.actions).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id - b.id));
  const items = actions.map((a) => {
    const code = codes[a.gap_id];
    let detail = "";
    if (a.action === "dismiss") detail = ` (reason: ${state.reasons[a.reason] || a.reason})`;
    if (a.action === "resolve" && a.reason && a.reason.startsWith("addendum:")) {
      detail = ` (closed by the addendum for ${codes[Number(a.reason.split(":")[1])] || "another gap"})`;
    } else if (a.action === "resolve") detail = " with an addendum";
    return el("li", { "data-testid": "history-item", "data-action": a.action },
      timeEl(a.at), " ", el("strong", { class: "actor", text: `${a.by} (${a.role})` }),
      ` ${ACTION_TEXT[a.action]} ${code}${detail}`,
      a.text && a.action !== "resolve" ? el("span", { class: "said", text: `: “${a.text}”` }) : null);
  });
  $("#history").replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "No actions yet." })]));
}

// -- dictations left open (not finalized, no change for SCRIBE_STALE_OPEN_MINUTES) ----------
async function loadLeftOpen() {
  let list;
  try {
    list = await api("/api/review/open");
  } catch {
    return;
  }
  $("#left-open").hidden = list.length === 0;
  $("#left-open-count").textContent = `(${list.length})`;
  $("#left-open-list").replaceChildren(...list.map((d) => {
    const enc = d.encounter || {};
    return el("li", { class: "left-open-item", "data-testid": "left-open-item", "data-dictation-id": d.dictation_id },
      el("span", { class: "qi-top" }, el("span", { class: "qi-provider", text: d.provider }),
         el("span", { class: "qi-when" }, "started ", timeEl(d.created_at))),
      el("span", { class: "qi-codes", text: `CPT ${linesText(d.lines, enc)} · ICD-10 ${(enc.icd10 || []).join(", ") || "none"}` }),
      el("span", { class: "qi-when" }, "last change ", timeEl(d.last_activity_at)),
      el("span", { class: "words", "data-testid": "left-open-words", text: `“${d.first_words}”` }));
  }));
}

// -- start ----------------------------------------------------------------------------------
async function start() {
  const me = await signIn({ page: "review", role: "scribe", refuse });
  if (!me) return;
  if (me.role !== "scribe") {
    refuse(`The review queue needs the scribe role; this token is a ${me.role}'s. Open the page with a scribe token.`);
    return;
  }
  $("#app").hidden = false;
  try {
    Object.assign(TITLES, (await api("/api/rules")).titles || {});
  } catch { /* codes are shown instead */ }
  filtersFromUrl();
  try {
    state.reasons = await api("/api/review/dismiss-reasons");
    await loadFacets();
  } catch (err) {
    notice(`The filters could not be loaded: ${err.message}`);
  }
  filtersFromUrl();
  const form = $("#filters");
  form.addEventListener("change", () => { syncUrl(); loadQueue(); });
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("reset", () => setTimeout(() => { syncUrl(); loadQueue(); }, 0));
  $("#queue").addEventListener("keydown", queueKeys);
  $("#more").addEventListener("click", () => loadQueue({ append: true }));
  await loadQueue();
  loadLeftOpen();
  if (state.selected) await openDetail(state.selected);
  document.body.dataset.ready = "true";
}

start();
