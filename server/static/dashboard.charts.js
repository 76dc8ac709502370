// Small SVG charts for the dashboard: horizontal bars (categories) and columns (time),
// optionally stacked. Every bar is focusable and shows its numbers in a tooltip on hover
// and on keyboard focus; its aria-label carries the same numbers for screen readers.

const SVG = "http://www.w3.org/2000/svg";
let tooltip = null;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function tip() {
  if (!tooltip) {
    tooltip = document.createElement("div");
    tooltip.className = "chart-tooltip";
    tooltip.setAttribute("role", "tooltip");
    tooltip.id = "chart-tooltip";
    tooltip.dataset.testid = "chart-tooltip";
    tooltip.hidden = true;
    document.body.append(tooltip);
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") hideTip(); });
  }
  return tooltip;
}

function showTip(target, lines, event) {
  const box = tip();
  box.replaceChildren(...lines.map((line, i) => {
    const row = document.createElement(i === 0 ? "strong" : "div");
    row.textContent = line;
    return row;
  }));
  box.hidden = false;
  const r = target.getBoundingClientRect();
  const x = event && event.clientX ? event.clientX : r.left + r.width / 2;
  const y = event && event.clientY ? event.clientY : r.top;
  const left = Math.min(window.scrollX + x + 12, window.scrollX + document.documentElement.clientWidth - box.offsetWidth - 8);
  box.style.left = `${Math.max(window.scrollX + 4, left)}px`;
  box.style.top = `${window.scrollY + y - box.offsetHeight - 10 < window.scrollY ? window.scrollY + r.bottom + 8
    : window.scrollY + y - box.offsetHeight - 10}px`;
  target.setAttribute("aria-describedby", box.id);
}

function hideTip() {
  if (tooltip) tooltip.hidden = true;
}

function wire(bar, lines) {
  bar.addEventListener("mouseenter", (e) => showTip(bar, lines, e));
  bar.addEventListener("mousemove", (e) => showTip(bar, lines, e));
  bar.addEventListener("mouseleave", hideTip);
  bar.addEventListener("focus", () => showTip(bar, lines));
  bar.addEventListener("blur", hideTip);
}

const drawn = new Set();
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const [container, draw, opts] of [...drawn]) {
      if (container.isConnected) draw(container, opts);
      else drawn.delete(container);
    }
  }, 150);
});

function remember(container, draw, opts) {
  for (const entry of drawn) if (entry[0] === container) drawn.delete(entry);
  drawn.add([container, draw, opts]);
}

function widthOf(container) {
  return Math.max(320, Math.floor(container.clientWidth || 640));
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Horizontal bars, one per row.
 * opts: rows, key(row), label(row), value(row) (a number), max (scale top; default the largest value),
 *       text(row) (the value label), tip(row) (lines: the first is the title),
 *       segments: [{key, name, className, value(row)}] to stack parts of a bar (their sum is the bar),
 *       name (the chart's accessible name), testid.
 */
export function barChart(container, opts) {
  const { rows, name } = opts;
  remember(container, barChart, opts);
  container.replaceChildren();
  if (!rows.length) {
    container.append(Object.assign(document.createElement("p"), { className: "chart-empty", textContent: "No data." }));
    return;
  }
  const W = widthOf(container), labelW = W > 520 ? 190 : 130, rowH = 24, gap = 8, top = 20;
  const valueW = Math.min(220, 16 + 7 * Math.max(...rows.map((r) => String(opts.text(r)).length)));
  const plotW = W - labelW - valueW;
  const max = opts.max ?? (Math.max(...rows.map(opts.value), 0) || 1);
  const H = top + rows.length * (rowH + gap) + 4;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart bars", role: "group", "aria-label": name,
                             "data-testid": opts.testid, width: W, height: H });
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const x = labelW + f * plotW;
    chart.append(svg("line", { x1: x, x2: x, y1: top - 6, y2: H, class: "grid" }));
    chart.append(svg("text", { x, y: 11, class: "tick", "text-anchor": "middle" }, opts.tick ? opts.tick(f * max) : ""));
  }
  rows.forEach((row, i) => {
    const y = top + i * (rowH + gap);
    const value = opts.value(row) || 0;
    const lines = opts.tip(row);
    const bar = svg("g", { class: "bar", tabindex: "0", role: "img", "data-testid": "bar", "data-key": opts.key(row),
                           "aria-label": lines.join(". ") });
    bar.append(svg("rect", { x: 0, y: y - 3, width: W, height: rowH + 6, class: "hit" }));
    bar.append(svg("text", { x: labelW - 8, y: y + rowH / 2 + 4, class: "label", "text-anchor": "end" },
                   truncate(opts.label(row), labelW > 150 ? 27 : 17)));
    if (opts.segments) {
      let x = labelW;
      for (const seg of opts.segments) {
        const w = (seg.value(row) / max) * plotW;
        if (w <= 0) continue;
        bar.append(svg("rect", { x, y, width: Math.max(w, 1.5), height: rowH, class: `fill ${seg.className}` }));
        x += w;
      }
    } else {
      bar.append(svg("rect", { x: labelW, y, width: Math.max((value / max) * plotW, value > 0 ? 2 : 0), height: rowH,
                               class: `fill ${opts.className ? opts.className(row) : ""}` }));
    }
    bar.append(svg("text", { x: labelW + (value / max) * plotW + 6, y: y + rowH / 2 + 4, class: "value" },
                   opts.text(row)));
    wire(bar, lines);
    chart.append(bar);
  });
  container.append(chart);
}

/**
 * Vertical columns over time (weeks, months): same options as barChart.
 */
export function columnChart(container, opts) {
  const { rows, name } = opts;
  remember(container, columnChart, opts);
  container.replaceChildren();
  if (!rows.length) {
    container.append(Object.assign(document.createElement("p"), { className: "chart-empty", textContent: "No data." }));
    return;
  }
  const W = widthOf(container), H = 230, left = 56, bottom = 30, top = 26;
  const plotH = H - top - bottom, band = (W - left - 8) / rows.length;
  const barW = Math.min(56, band * 0.7);
  const max = opts.max ?? (Math.max(...rows.map(opts.value), 0) || 1);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart columns", role: "group", "aria-label": name,
                             "data-testid": opts.testid, width: W, height: H });
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + plotH - f * plotH;
    chart.append(svg("line", { x1: left, x2: W - 4, y1: y, y2: y, class: "grid" }));
    chart.append(svg("text", { x: left - 6, y: y + 4, class: "tick", "text-anchor": "end" }, opts.tick ? opts.tick(f * max) : ""));
  }
  rows.forEach((row, i) => {
    const value = opts.value(row) || 0;
    const h = (value / max) * plotH;
    const x = left + i * band + (band - barW) / 2;
    const lines = opts.tip(row);
    const bar = svg("g", { class: "bar", tabindex: "0", role: "img", "data-testid": "bar", "data-key": opts.key(row),
                           "aria-label": lines.join(". ") });
    bar.append(svg("rect", { x: left + i * band, y: top, width: band, height: plotH + bottom, class: "hit" }));
    bar.append(svg("rect", { x, y: top + plotH - h, width: barW, height: Math.max(h, value > 0 ? 2 : 0),
                             class: `fill ${opts.className ? opts.className(row) : ""}` }));
    bar.append(svg("text", { x: x + barW / 2, y: top + plotH - h - 5, class: "value", "text-anchor": "middle" },
                   opts.text(row)));
    bar.append(svg("text", { x: x + barW / 2, y: H - bottom + 16, class: "label", "text-anchor": "middle" },
                   truncate(opts.label(row), 12)));
    wire(bar, lines);
    chart.append(bar);
  });
  container.append(chart);
}
