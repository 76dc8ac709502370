// The manager dashboard. It reads only the statistics API (aggregates: counts, shares,
// dollars, codes and provider names); it never asks for note text, evidence or messages.

import { barChart, columnChart } from "./dashboard.charts.js";
import { $, $$, api, el, fetchApi, formFromUrl, notice, pad, plural, signIn } from "./page.js";

const FILTERS = ["date_from", "date_to", "provider", "cpt", "risk"];
const GROUPS = ["provider", "cpt", "family", "gap_code", "week"];
const REASON_CLASSES = ["r0", "r1", "r2", "r3", "r4", "r5"];

const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const money = (x) => dollars.format(x || 0);
const pct = (x) => (x === null || x === undefined ? "n/a" : `${Math.round(x * 1000) / 10}%`);

// -- filters and queries --------------------------------------------------------------------
const state = { reasons: {}, data: null, families: {} };
// an imaging family (lexicons/families) by its name, with what it holds (from /api/stats/facets)
const familyTitle = (name) => (state.families[name] ? `${name}: ${state.families[name]}` : name);

function filterValues() {
  const form = $("#filters");
  return Object.fromEntries(FILTERS.map((name) => [name, form.elements[name].value.trim()]));
}

function baseQuery({ dates = true } = {}) {
  const f = filterValues();
  const q = new URLSearchParams();
  for (const name of dates ? ["date_from", "date_to", "provider", "cpt"] : ["provider", "cpt"]) {
    if (f[name]) q.set(name, f[name]);
  }
  return q;
}

function riskQuery(q) {
  for (const s of (filterValues().risk || "error,warning").split(",")) q.append("severity", s);
  return q;
}

function thisMonth() {
  const now = new Date();
  return { start: `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}-01`,
           key: `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}`,
           label: now.toLocaleString("en-US", { month: "long", year: "numeric", timeZone: "UTC" }) };
}

// Every table of the page, as the API path that gives its JSON (the CSV adds format=csv).
function paths() {
  const out = {};
  for (const by of GROUPS) {
    const q = baseQuery();
    q.set("by", by);
    q.set("ignore_dismissed", "true");
    out[`completeness-${by}`] = `/api/stats/clean-share?${q}`;
  }
  out.dismissals = `/api/stats/dismissals?${baseQuery()}`;
  out["rule-outcomes"] = `/api/stats/rule-outcomes?${baseQuery()}`;
  const month = riskQuery(baseQuery({ dates: false }));
  month.set("date_from", thisMonth().start);
  out["money-this-month"] = `/api/stats/money-at-risk?${month}`;
  out["money-range"] = `/api/stats/money-at-risk?${riskQuery(baseQuery())}`;
  return out;
}

function csvPath(name) {
  if (name === "audit-compare") return comparePath("csv");
  const p = paths();
  const money = name.match(/^money-(provider|family|gap_code|month)$/);
  if (money) {
    const source = money[1] === "month" ? p["money-range"] : p["money-this-month"];
    return `${source}&format=csv&by=${money[1]}`;
  }
  return `${p[name]}${p[name].includes("?") ? "&" : "?"}format=csv`;
}

function syncUrl() {
  const url = new URL(location.href);
  const f = filterValues();
  for (const name of FILTERS) {
    if (f[name] && !(name === "risk" && f[name] === "error,warning")) url.searchParams.set(name, f[name]);
    else url.searchParams.delete(name);
  }
  history.replaceState(null, "", url);
}

function filtersFromUrl() {
  const form = $("#filters");
  formFromUrl(form, FILTERS);
}

// -- loading and rendering ------------------------------------------------------------------
let asked = 0;                               // answers can arrive out of order: only the last question's counts

async function refresh() {
  const p = paths();
  const mine = ++asked;
  let data;
  try {
    const names = Object.keys(p);
    const bodies = await Promise.all(names.map((n) => api(p[n])));
    data = Object.fromEntries(names.map((n, i) => [n, bodies[i]]));
  } catch (err) {
    if (mine !== asked) return;
    if (err.status === 403 || err.status === 401) return refuse(err.message);
    notice(`The statistics could not be loaded: ${err.message}`);
    return;
  }
  if (mine !== asked) return;
  notice("");
  state.data = data;
  renderKpis(data);
  renderCompleteness(data);
  renderMoney(data);
  renderDismissals(data);
  renderOutcomes(data);
  renderTables(data);
  document.body.dataset.ready = "true";
  document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
}

function totals(rows) {
  return rows.reduce((t, r) => ({ finalized: t.finalized + r.finalized, clean: t.clean + r.clean }),
                     { finalized: 0, clean: 0 });
}

function renderKpis(data) {
  const t = totals(data["completeness-provider"]);
  const share = t.finalized ? t.clean / t.finalized : null;
  $("[data-testid=kpi-completeness-value]").textContent = pct(share);
  $("[data-testid=kpi-completeness]").dataset.value = share === null ? "" : String(share);
  $("[data-testid=kpi-completeness-detail]").textContent = t.finalized
    ? `${t.clean} of ${plural(t.finalized, "finalized dictation")} complete` : "No finalized dictation matches the filters.";

  const m = data["money-this-month"];
  $("[data-testid=kpi-money-value]").textContent = money(m.total_dollars);
  $("[data-testid=kpi-money]").dataset.value = String(m.total_dollars);
  $("[data-testid=kpi-money-detail]").textContent = `${thisMonth().label}: ${plural(m.total_lines, "CPT line")} at risk`
    + (m.unpriced_lines ? `; ${plural(m.unpriced_lines, "line")} of codes without a fee not counted` : "");

  const d = data.dismissals.reduce((a, r) => ({ gaps: a.gaps + r.gaps, dismissed: a.dismissed + r.dismissed }),
                                   { gaps: 0, dismissed: 0 });
  const rate = d.gaps ? d.dismissed / d.gaps : null;
  $("[data-testid=kpi-dismissal-value]").textContent = pct(rate);
  $("[data-testid=kpi-dismissal]").dataset.value = rate === null ? "" : String(rate);
  $("[data-testid=kpi-dismissal-detail]").textContent = d.gaps
    ? `${d.dismissed} of ${plural(d.gaps, "gap")} found at finalization ${d.dismissed === 1 ? "was" : "were"} dismissed`
    : "No gaps in these dictations.";
}

const shareClass = (r) => (r.share >= 0.9 ? "good" : r.share >= 0.7 ? "fair" : "poor");
const weekLabel = (key) => new Date(`${key}T00:00:00Z`).toLocaleString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });

function renderCompleteness(data) {
  const names = { provider: "provider", cpt: "CPT code", family: "imaging family", gap_code: "gap code", week: "week" };
  for (const by of GROUPS) {
    const rows = data[`completeness-${by}`];
    const plot = $(`[data-testid=chart-completeness-${by}] .plot`);
    const common = {
      rows, max: 1, name: `Documentation completeness by ${names[by]}`, testid: `plot-completeness-${by}`,
      key: (r) => r.key, value: (r) => r.share, text: (r) => pct(r.share), className: shareClass,
      tick: (v) => `${Math.round(v * 100)}%`,
      tip: (r) => [by === "week" ? `Week of ${r.key}` : by === "cpt" ? `CPT ${r.key}` : by === "family" ? familyTitle(r.key) : r.key,
                   by === "gap_code"
                     ? `${pct(r.share)} of dictations without this gap (${r.clean} of ${r.finalized})`
                     : `${pct(r.share)} complete: ${r.clean} of ${plural(r.finalized, "dictation")}`],
    };
    if (by === "week") columnChart(plot, { ...common, label: (r) => weekLabel(r.key) });
    else barChart(plot, { ...common, label: (r) => (by === "cpt" ? `CPT ${r.key}` : r.key) });
  }
}

function moneyTip(title, r) {
  return [title, `${money(r.dollars)} at risk`, `${plural(r.lines, "CPT line")}`
    + (r.unpriced_lines ? ` (${r.unpriced_lines} without a fee, not counted)` : "")];
}

function renderMoney(data) {
  const month = data["money-this-month"];
  const label = thisMonth().label;
  const common = { value: (r) => r.dollars, tick: (v) => money(v).replace(/\.\d\d$/, ""),
                   text: (r) => money(r.dollars) + (r.unpriced_lines ? ` + ${r.unpriced_lines} unpriced` : "") };
  barChart($("[data-testid=chart-money-provider] .plot"), {
    ...common, rows: month.by_provider, name: `Dollars at risk in ${label} by provider`, testid: "plot-money-provider",
    key: (r) => r.provider, label: (r) => r.provider, tip: (r) => moneyTip(`${r.provider}, ${label}`, r),
  });
  barChart($("[data-testid=chart-money-family] .plot"), {
    ...common, rows: month.by_family || [], name: `Dollars at risk in ${label} by imaging family`, testid: "plot-money-family",
    key: (r) => r.family, label: (r) => r.family, tip: (r) => moneyTip(`${familyTitle(r.family)}, ${label}`, r),
  });
  barChart($("[data-testid=chart-money-gap_code] .plot"), {
    ...common, rows: month.by_gap_code, name: `Dollars at risk in ${label} by gap code`, testid: "plot-money-gap_code",
    key: (r) => r.gap_code, label: (r) => r.gap_code, tip: (r) => moneyTip(`${r.gap_code}, ${label}`, r),
  });
  columnChart($("[data-testid=chart-money-month] .plot"), {
    ...common, rows: data["money-range"].by_month, name: "Dollars at risk by month", testid: "plot-money-month",
    key: (r) => r.month, label: (r) => r.month, tip: (r) => moneyTip(r.month, r),
  });
}

function renderFees(table) {
  const source = table.table === "lexicons"
    ? `Priced with the ${table.year} Medicare Physician Fee Schedule (national, non-facility): ${table.source}. `
      + `Payment = total RVUs × conversion factor $${table.conversion_factor}.`
    : `Priced with ${table.source}.`;
  $("#fee-source").textContent = source + (table.note ? ` ${table.note}` : "");
  const head = el("tr", {}, ...["CPT", "What it is (our wording)", "RVUs", "Payment", "Source"].map((h) => el("th", { scope: "col", text: h })));
  const rows = table.codes.map((c) => el("tr", {}, el("td", { text: c.cpt }), el("td", { text: c.paraphrase || "" }),
    el("td", { class: "num", text: c.rvu_total ?? "" }), el("td", { class: "num", text: money(c.payment) }),
    el("td", { text: c.payment_source || "" })));
  $(".fee-body").replaceChildren(el("table", { "data-testid": "fee-codes" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function renderDismissals(data) {
  const rows = data.dismissals;
  const reasons = Object.keys(state.reasons);
  const cls = (reason) => REASON_CLASSES[Math.max(0, reasons.indexOf(reason)) % REASON_CLASSES.length];
  $("[data-testid=dismissal-legend]").replaceChildren(...reasons.map((r) => el("li", {},
    el("span", { class: `swatch ${cls(r)}`, "aria-hidden": "true" }), state.reasons[r])));
  barChart($("[data-testid=chart-dismissals] .plot"), {
    rows, max: Math.max(0.25, ...rows.map((r) => r.rate || 0)), name: "Dismissal rate per gap code",
    testid: "plot-dismissals", key: (r) => r.gap_code, label: (r) => r.gap_code, value: (r) => r.rate,
    text: (r) => `${pct(r.rate)} (${r.dismissed}/${r.gaps})`, tick: (v) => `${Math.round(v * 100)}%`,
    segments: reasons.map((reason) => ({ key: reason, className: cls(reason),
                                         value: (r) => (r.gaps ? (r.reasons[reason] || 0) / r.gaps : 0) })),
    tip: (r) => [r.gap_code, `${pct(r.rate)} dismissed: ${r.dismissed} of ${plural(r.gaps, "gap")}`,
                 ...Object.entries(r.reasons).map(([k, n]) => `${state.reasons[k] || k}: ${n}`)],
  });
}

const reasonList = (reasons) => Object.entries(reasons).map(([k, n]) => `${state.reasons[k] || k}: ${n}`).join("; ") || "none";

function renderOutcomes(data) {
  const rows = data["rule-outcomes"];
  const label = (r) => `${r.rule_id} ${r.gap_code}`;
  const common = { key: (r) => r.rule_id, label, tick: (v) => `${Math.round(v * 100)}%` };
  const review = rows.filter((r) => r.review.gaps);
  const order = rows.filter((r) => r.order_time.cards);
  barChart($("[data-testid=chart-outcomes-review] .plot"), {
    ...common, rows: review, max: Math.max(0.25, ...review.map((r) => r.review.rate || 0)),
    name: "Dismissal rate per rule in the review queue", testid: "plot-outcomes-review", value: (r) => r.review.rate,
    text: (r) => `${pct(r.review.rate)} (${r.review.dismissed}/${r.review.gaps})`,
    tip: (r) => [label(r), r.title || "", `${pct(r.review.rate)} dismissed: ${r.review.dismissed} of ${plural(r.review.gaps, "gap")}`,
                 ...Object.entries(r.review.reasons).map(([k, n]) => `${state.reasons[k] || k}: ${n}`)],
  });
  barChart($("[data-testid=chart-outcomes-order] .plot"), {
    ...common, rows: order, max: Math.max(0.25, ...order.map((r) => r.order_time.override_rate || 0)),
    name: "Override rate per rule at order time", testid: "plot-outcomes-order", value: (r) => r.order_time.override_rate,
    text: (r) => `${pct(r.order_time.override_rate)} (${r.order_time.overridden}/${r.order_time.accepted + r.order_time.overridden})`,
    tip: (r) => [label(r), r.title || "", `${pct(r.order_time.override_rate)} overridden: ${r.order_time.overridden} of `
                 + `${r.order_time.accepted + r.order_time.overridden} answered (${plural(r.order_time.cards, "card")} shown)`,
                 ...Object.entries(r.order_time.reasons).map(([k, n]) => `${state.reasons[k] || k}: ${n}`)],
  });
  const head1 = el("tr", {}, el("th", { scope: "col", rowspan: "2", text: "Rule" }),
    el("th", { scope: "colgroup", colspan: "4", text: "Review queue" }),
    el("th", { scope: "colgroup", colspan: "5", text: "Order time (CDS Hooks)" }));
  const head2 = el("tr", {}, ...["Gaps", "Dismissed", "Rate", "Reasons", "Cards", "Accepted", "Overridden", "Rate", "Reasons"]
    .map((h) => el("th", { scope: "col", text: h })));
  const body = rows.map((r) => el("tr", { "data-rule": r.rule_id },
    el("th", { scope: "row" }, el("a", { href: r.page, text: r.rule_id }), ` ${r.gap_code}`,
       r.title ? el("div", { class: "rule-title", text: r.title }) : ""),
    ...[r.review.gaps, r.review.dismissed].map((n) => el("td", { class: "num", text: String(n) })),
    el("td", { class: "num", "data-testid": "review-rate", text: pct(r.review.rate) }),
    el("td", { text: reasonList(r.review.reasons) }),
    ...[r.order_time.cards, r.order_time.accepted, r.order_time.overridden].map((n) => el("td", { class: "num", text: String(n) })),
    el("td", { class: "num", "data-testid": "override-rate", text: pct(r.order_time.override_rate) }),
    el("td", { text: reasonList(r.order_time.reasons) })));
  $(".outcomes-body").replaceChildren(rows.length
    ? el("table", { "data-testid": "table-rule-outcomes" }, el("thead", {}, head1, head2), el("tbody", {}, ...body))
    : el("p", { class: "chart-empty", text: "No gap stored and no card answered matches the filters." }));
}

function table(name, caption, headers, rows) {
  return el("table", { "data-testid": `table-${name}` }, el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c, i) => el(i ? "td" : "th", i ? {
      class: typeof c === "number" || /^[$\d]/.test(String(c)) ? "num" : null, text: String(c) } : { scope: "row", text: String(c) }))))));
}

function renderTables(data) {
  const out = [];
  const names = { provider: "Provider", cpt: "CPT code", family: "Imaging family", gap_code: "Gap code", week: "Week of" };
  for (const by of GROUPS) {
    out.push(table(`completeness-${by}`, `Completeness by ${names[by].toLowerCase()}`,
                   [names[by], "Finalized", "Complete", "Share"],
                   data[`completeness-${by}`].map((r) => [r.key, r.finalized, r.clean, pct(r.share)])));
  }
  const month = data["money-this-month"];
  out.push(table("money-provider", `$ at risk in ${thisMonth().label} by provider`, ["Provider", "Lines", "Dollars", "Unpriced lines"],
                 month.by_provider.map((r) => [r.provider, r.lines, money(r.dollars), r.unpriced_lines])));
  out.push(table("money-family", `$ at risk in ${thisMonth().label} by imaging family`, ["Family", "Lines", "Dollars", "Unpriced lines"],
                 (month.by_family || []).map((r) => [r.family, r.lines, money(r.dollars), r.unpriced_lines])));
  out.push(table("money-gap_code", `$ at risk in ${thisMonth().label} by gap code`, ["Gap code", "Lines", "Dollars", "Unpriced lines"],
                 month.by_gap_code.map((r) => [r.gap_code, r.lines, money(r.dollars), r.unpriced_lines])));
  out.push(table("money-month", "$ at risk by month", ["Month", "Lines", "Dollars", "Unpriced lines"],
                 data["money-range"].by_month.map((r) => [r.month, r.lines, money(r.dollars), r.unpriced_lines])));
  out.push(table("dismissals", "Dismissals by gap code", ["Gap code", "Gaps", "Dismissed", "Rate", "Reasons"],
                 data.dismissals.map((r) => [r.gap_code, r.gaps, r.dismissed, pct(r.rate),
                   Object.entries(r.reasons).map(([k, n]) => `${state.reasons[k] || k}: ${n}`).join("; ") || "none"])));
  $("#tables").replaceChildren(...out);
}

// -- a retrospective audit next to live completeness ------------------------------------------
// An audit (`scribe audit` results loaded with `scribe audit-load`) has its own source and dates;
// its numbers come from their own API and are shown beside the live ones, never added to them.
const audits = { list: [], asked: 0 };
const auditRange = (a) => (a.date_from ? `${a.date_from} to ${a.date_to}` : "dates not given");
const BY_NAMES = { gap_code: "Gap code", cpt: "CPT code", family: "Imaging family", provider: "Provider" };

function comparePath(format) {
  const form = $("#audit-form");
  const q = baseQuery();
  q.set("by", form.elements.audit_by.value);
  if (format) q.set("format", format);
  return `/api/stats/audits/${encodeURIComponent(form.elements.audit.value)}/compare?${q}`;
}

async function loadAudits() {
  audits.list = await api("/api/stats/audits");
  const has = audits.list.length > 0;
  $("[data-testid=audit-empty]").hidden = has;
  $("[data-testid=audit-body]").hidden = !has;
  $("#audit-form").elements.audit.replaceChildren(...audits.list.map((a) => el("option", {
    value: String(a.id), text: `${a.name} (${auditRange(a)})` })));
  if (!has) document.body.dataset.auditLoads = "none";
}

async function refreshAudit() {
  if (!audits.list.length) return;
  const mine = ++audits.asked;
  let body;
  try {
    body = await api(comparePath());
  } catch (err) {
    if (mine === audits.asked) notice(`The audit comparison could not be loaded: ${err.message}`);
    return;
  }
  if (mine !== audits.asked) return;
  renderAudit(body);
  document.body.dataset.auditLoads = String(Number(document.body.dataset.auditLoads || 0) + 1);
}

function renderAudit(body) {
  const a = body.audit, t = body.audit_total, live = body.live, by = body.by;
  const source = a.source.split("/").pop();
  $("[data-testid=audit-kpi-audit-value]").textContent = pct(t.share);
  $("[data-testid=audit-kpi-audit]").dataset.value = t.share === null ? "" : String(t.share);
  $("[data-testid=audit-kpi-audit-detail]").textContent = `${t.clean} of ${plural(t.cases, "case")} complete in `
    + `${a.name} (${source}, ${auditRange(a)})` + (a.errors ? `; ${plural(a.errors, "row")} could not be checked` : "");
  $("[data-testid=audit-kpi-live-value]").textContent = pct(live.share);
  $("[data-testid=audit-kpi-live]").dataset.value = live.share === null ? "" : String(live.share);
  $("[data-testid=audit-kpi-live-detail]").textContent = live.finalized
    ? `${live.clean} of ${plural(live.finalized, "finalized dictation")} complete`
      + (live.date_from ? `, ${live.date_from} to ${live.date_to}` : "")
    : "No finalized live dictation matches the filters.";
  const label = (r) => (by === "cpt" ? `CPT ${r.key}` : r.key);
  const common = { max: 1, key: (r) => r.key, label, className: shareClass, tick: (v) => `${Math.round(v * 100)}%` };
  const what = by === "gap_code" ? "without this gap" : "complete";
  barChart($("[data-testid=chart-audit-audit] .plot"), {
    ...common, rows: body.rows.filter((r) => r.audit_cases).map((r) => ({ ...r, share: r.audit_share })),
    name: `Completeness in the audit by ${BY_NAMES[by].toLowerCase()}`, testid: "plot-audit-audit",
    value: (r) => r.audit_share, text: (r) => pct(r.audit_share),
    tip: (r) => [label(r), `Audit: ${pct(r.audit_share)} of cases ${what} (${r.audit_clean} of ${r.audit_cases})`],
  });
  barChart($("[data-testid=chart-audit-live] .plot"), {
    ...common, rows: body.rows.filter((r) => r.live_finalized).map((r) => ({ ...r, share: r.live_share })),
    name: `Live completeness by ${BY_NAMES[by].toLowerCase()}`, testid: "plot-audit-live",
    value: (r) => r.live_share, text: (r) => pct(r.live_share),
    tip: (r) => [label(r), `Live: ${pct(r.live_share)} of dictations ${what} (${r.live_clean} of ${r.live_finalized})`],
  });
  const points = (d) => (d === null || d === undefined ? "n/a" : `${d > 0 ? "+" : ""}${Math.round(d * 1000) / 10} pts`);
  const rows = body.rows.map((r) => [label(r), r.audit_cases, pct(r.audit_share), r.live_finalized, pct(r.live_share),
                                     points(r.difference)]);
  $("[data-testid=audit-table]").replaceChildren(table("audit-compare",
    `${a.name} compared with live dictations, by ${BY_NAMES[by].toLowerCase()}`,
    [BY_NAMES[by], "Audit cases", "Audit share", "Live dictations", "Live share", "Live − audit"], rows));
}

// -- CSV ------------------------------------------------------------------------------------
async function downloadCsv(name, button) {
  button.disabled = true;
  try {
    const response = await fetchApi(csvPath(name));
    const blob = await response.blob();
    const disposition = response.headers.get("content-disposition") || "";
    const file = (disposition.match(/filename="([^"]+)"/) || [])[1] || `${name}.csv`;
    const link = el("a", { href: URL.createObjectURL(blob), download: file, hidden: "" });
    document.body.append(link);
    link.click();
    setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  } catch (err) {
    notice(`The CSV could not be made: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// -- start ----------------------------------------------------------------------------------
function refuse(message) {
  $("#app").hidden = true;
  $("#app").replaceChildren();     // no data stays in the page
  notice(message);
  document.body.dataset.ready = "refused";
}

async function start() {
  const me = await signIn({ page: "dashboard", role: "manager", refuse });
  if (!me) return;
  if (me.role !== "manager") {
    refuse(`The dashboard needs the manager role; this token is a ${me.role}'s, so it shows no statistics. `
           + "Open the page with a manager token.");
    return;
  }
  $("#app").hidden = false;
  try {
    const [facets, fees] = await Promise.all([api("/api/stats/facets"), api("/api/stats/fee-schedule")]);
    state.families = Object.fromEntries((facets.families || []).map((f) => [f.family, f.description]));
    state.reasons = facets.dismiss_reasons || {};
    const form = $("#filters");
    for (const [name, values] of [["provider", facets.providers], ["cpt", facets.cpt]]) {
      const select = form.elements[name];
      select.append(...values.map((v) => el("option", { value: v, text: name === "cpt" ? `CPT ${v}` : v })));
    }
    renderFees(fees);
  } catch (err) {
    if (err.status === 403) return refuse(err.message);
    notice(`The filters could not be loaded: ${err.message}`);
  }
  filtersFromUrl();
  const form = $("#filters");
  form.addEventListener("change", () => { syncUrl(); refresh(); refreshAudit(); });
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("reset", () => setTimeout(() => { syncUrl(); refresh(); refreshAudit(); }, 0));
  $("#audit-form").addEventListener("change", refreshAudit);
  $("#audit-form").addEventListener("submit", (event) => event.preventDefault());
  for (const button of $$("button.csv")) button.addEventListener("click", () => downloadCsv(button.dataset.csv, button));
  try {
    await loadAudits();
  } catch (err) {
    notice(`The audits could not be loaded: ${err.message}`);
  }
  await Promise.all([refresh(), refreshAudit()]);
}

start();
