// @ts-check
// A key's usage drawn: stacked bar charts of its requests per hour and per
// day by outcome, each with its totals in words (SVG, no library).

/**
 * @typedef {import("../types.js").UsageBucket} UsageBucket
 * @typedef {import("../types.js").UsageKind} UsageKind
 * @typedef {import("../types.js").UsageSeries} UsageSeries
 */

const SVG = "http://www.w3.org/2000/svg";

/**
 * Each outcome a bucket counts, with its words, in the order the bars stack.
 * @type {[UsageKind, string][]}
 */
const KINDS = [["admitted", "let through"], ["limited", "rate-limited"], ["refused", "refused"]];

/**
 * A stacked bar chart of `buckets` by outcome, with its totals in words.
 * @param {string} title
 * @param {UsageBucket[]} buckets
 * @param {(start: string) => string} label a bucket's start in words
 * @returns {HTMLElement}
 */
function chart(title, buckets, label) {
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  const sum = (/** @type {UsageKind} */ kind) => buckets.reduce((n, b) => n + b[kind], 0);
  const total = KINDS.reduce((n, [kind]) => n + sum(kind), 0);
  cap.textContent = `${title}: ${total} requests (${KINDS.map(([kind, words]) => `${sum(kind)} ${words}`).join(", ")})`;
  const w = 600, h = 120, gap = 2;
  const max = Math.max(1, ...buckets.map((b) => b.admitted + b.limited + b.refused));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  // Stretched to the dialog's width: the current hour or day is the last bar.
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", cap.textContent);
  const bw = w / buckets.length;
  buckets.forEach((b, i) => {
    let y = h;
    const g = document.createElementNS(SVG, "g");
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = `${label(b.start)}: ${b.admitted} let through, ${b.limited} rate-limited, ${b.refused} refused`;
    g.append(tip);
    for (const [kind] of KINDS) {
      const bh = (b[kind] / max) * (h - 4);
      if (bh <= 0) continue;
      y -= bh;
      const r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", String(i * bw + gap / 2));
      r.setAttribute("y", String(y));
      r.setAttribute("width", String(Math.max(1, bw - gap)));
      r.setAttribute("height", String(bh));
      r.setAttribute("class", `bar ${kind}`);
      g.append(r);
    }
    svg.append(g);
  });
  fig.append(cap, svg);
  return fig;
}

/**
 * The legend, then a key's charts: per hour over the last 24 hours, per day
 * over the last 30.
 * @param {UsageSeries} series
 * @returns {HTMLElement[]}
 */
export function usageCharts(series) {
  const legend = document.createElement("p");
  legend.className = "legend";
  for (const [kind, words] of KINDS) {
    const s = document.createElement("span");
    s.className = `key ${kind}`;
    s.textContent = words;
    legend.append(s);
  }
  return [
    legend,
    chart("Per hour, last 24 hours", series.hours, (t) => new Date(t).toLocaleString()),
    chart("Per day, last 30 days", series.days, (t) => new Date(t).toLocaleDateString()),
  ];
}
