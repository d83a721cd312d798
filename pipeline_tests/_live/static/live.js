// The live view: renders the state the server pushes (server-sent events on /events).
// No libraries: plain DOM and <canvas>, shipped inside the package.
"use strict";

const HOPS = { app: "app emitted", router_in: "router in", router_out: "router out",
               aggregator_in: "aggregator in", aggregator_out: "aggregator out",
               sink: "sink received" };  // labels of the hops the server lists (run.hops)
const COLOURS = { app: "#0072b2", router_in: "#e69f00", router_out: "#cc79a7",
                  aggregator_in: "#56b4e9", aggregator_out: "#f0e442", sink: "#009e73",
                  missing: "#d55e00" };
const MARKS = { SIGTERM: ["#000", [8, 5]], SIGKILL: ["#c00", []], exited: ["#666", [2, 4]] };
const RATE_WINDOW = 1.0;  // seconds over which lines/s is measured
const fmt = (n) => (n === null || n === undefined) ? "\u2013" : n.toLocaleString("en-US");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function canvas(width, height) {
  const c = el("canvas", { width: width * devicePixelRatio, height: height * devicePixelRatio });
  c.style.height = height + "px";
  const g = c.getContext("2d");
  g.scale(devicePixelRatio, devicePixelRatio);
  return [c, g];
}

function rates(samples, column) {
  // [t, lines/s] from the hop's counter, over RATE_WINDOW seconds.
  const out = [];
  let j = 0;
  for (let i = 1; i < samples.length; i++) {
    while (j < i - 1 && samples[i][0] - samples[j + 1][0] >= RATE_WINDOW) j++;
    const a = samples[j], b = samples[i];
    if (a[column] === null || b[column] === null || b[0] <= a[0]) continue;
    out.push([b[0], (b[column] - a[column]) / (b[0] - a[0])]);
  }
  return out;
}

function niceCeiling(v) {
  // The next 1, 2, 2.5 or 5 times a power of ten: round tick labels.
  const unit = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * unit >= v) return m * unit;
  return 10 * unit;
}

function chart(view, hops, width) {
  const height = 260, left = 70, bottom = 30;
  const [c, g] = canvas(width, height);
  const series = hops.map((h) => [h, rates(view.samples, 1 + hops.indexOf(h))]);
  const tMax = Math.max(view.flood + 2, view.elapsed, ...view.steps.map((s) => s.t)) * 1.02;
  let yMax = 1;
  for (const [, pts] of series) for (const p of pts) yMax = Math.max(yMax, p[1]);
  yMax = niceCeiling(yMax * 1.05);
  const x = (t) => left + (width - left - 10) * t / tMax;
  const y = (v) => (height - bottom) * (1 - v / yMax) + 5;
  g.font = "14px sans-serif"; g.fillStyle = "#333"; g.strokeStyle = "#ccc"; g.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = yMax * k / 4;
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(width - 10, y(v)); g.stroke();
    g.fillText(Math.round(v).toLocaleString("en-US"), 2, y(v) + 5);
  }
  for (let t = 0; t <= tMax; t += Math.max(1, Math.round(tMax / 8))) g.fillText(t + " s", x(t) - 8, height - 8);
  g.fillText("lines/s", left + 4, 18);
  g.lineWidth = 3;
  for (const [h, pts] of series) {
    g.strokeStyle = COLOURS[h]; g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo(x(p[0]), y(p[1])) : g.moveTo(x(p[0]), y(p[1]))));
    g.stroke();
  }
  for (const s of view.steps) {
    const [colour, dash] = MARKS[s.action] || MARKS.exited;
    g.strokeStyle = colour; g.setLineDash(dash); g.lineWidth = 2.5;
    g.beginPath(); g.moveTo(x(s.t), 5); g.lineTo(x(s.t), height - bottom); g.stroke();
    g.setLineDash([]); g.fillStyle = colour;
    g.fillText(`${s.action} ${s.container}`, x(s.t) + 3, 35 + 16 * view.steps.indexOf(s));
  }
  return c;
}

function lossMap(view, width) {
  const m = view.map;
  const streams = m ? m.emitted.length : 0;
  const row = 26, height = Math.max(1, streams) * (row + 6) + 20;
  const [c, g] = canvas(width, height);
  g.font = "14px sans-serif";
  if (!m) return c;
  const top = Math.max(1, ...m.emitted);
  const x = (seq) => 80 + (width - 90) * seq / top;
  m.emitted.forEach((n, s) => {
    const y0 = 4 + s * (row + 6);
    g.fillStyle = "#333"; g.fillText(`stream ${s}`, 0, y0 + 18);
    g.fillStyle = COLOURS.missing; g.fillRect(x(0), y0, x(n) - x(0), row);
  });
  g.fillStyle = COLOURS.sink;
  for (const [s, first, last] of m.received) {
    const y0 = 4 + s * (row + 6);
    g.fillRect(x(first), y0, Math.max(1, x(last + 1) - x(first)), row);
  }
  g.fillStyle = "#333";
  g.fillText(`seq 0 \u2026 ${fmt(top - 1)}  (green received, red missing)`, 80, height - 4);
  return c;
}

function counter(hop, value, label) {
  return el("div", { class: "count " + hop, "data-hop": hop },
            el("span", { class: "n" }, fmt(value)), el("span", { class: "what" }, label));
}

function decision(cell) {
  // "loses: decided at 95%" / "undecided, 8 trials left at most" (trials: auto), or nothing
  if (!cell) return el("span");
  const text = cell.stopped
    ? (cell.answer ? `${cell.answer}: ${cell.stopped}` : cell.stopped)
    : (cell.answer ? `${cell.answer} so far, ${cell.left} trials left at most` : `${cell.left} trials left`);
  return el("span", { class: "decision" + (cell.stopped.startsWith("decided") ? " decided" : "") }, text);
}

function panel(view, hops, width, cell) {
  const missing = view.counts.app === null ? null : Math.max(0, view.counts.app - view.counts.sink);
  const counts = el("div", { class: "counts" },
                    ...hops.map((h) => counter(h, view.counts[h], HOPS[h])),
                    counter("missing", hops.includes("app") ? missing : null,
                            "missing at the sink"));
  const steps = el("ul", { class: "steps" },
                   ...view.steps.map((s) => el("li", {}, `${s.action} ${s.container} at ${s.t.toFixed(2)} s`)));
  const node = el("div", { class: "cell", "data-cell": view.cell },
                  el("h2", {}, `${view.cell} #${view.trial}`,
                     el("span", { class: "phase" }, view.phase), decision(cell)),
                  counts, chart(view, hops, width), steps, lossMap(view, width));
  const r = view.result;
  if (r) node.append(el("div", { class: "result " + (r.lost ? "loss" : "ok") },
                        `lost ${fmt(r.lost)} of ${fmt(r.emitted)} (${r.lost_at})`));
  if (view.error) node.append(el("div", { class: "result loss" }, "FAILED: " + view.error));
  return node;
}

function table(id, head, rows) {
  return el("table", { id },
            el("tr", {}, ...head.map(([, label]) => el("th", {}, label))),
            ...rows.map((r) => el("tr", { "data-cell": r.cell, "data-trial": r.trial ?? "" },
                                  ...head.map(([k]) => el("td", { "data-field": k },
                                    typeof r[k] === "number" ? fmt(r[k]) : String(r[k]))))));
}

function summary(state) {
  const s = state.summary;
  if (!s) return el("div");
  return el("section", { id: "summary" },
            el("p", { class: "verdict " + (s.passed ? "pass" : "fail"), id: "verdict" },
               (s.passed ? "PASS: " : "FAIL: ") + s.verdict + " \u00b7 ",
               el("a", { href: "/report.html", id: "report-link" }, "report.html")),
            table("cells", [["cell", "cell"], ["trials", "trials"],
                            ["trials_with_loss", "with loss"], ["lost_max", "lost max"],
                            ["lost_pct_max", "lost % max"], ["achieved_rate_mean", "lines/s"],
                            ["lost_at", "lost at"]], s.cells),
            table("trials", [["cell", "cell"], ["trial", "trial"], ["emitted", "emitted"],
                             ["received_distinct", "received"], ["lost", "lost"],
                             ["duplicates", "duplicates"], ["achieved_rate", "lines/s"],
                             ["lost_at", "lost at"]], state.trials));
}

function render(state) {
  const live = document.getElementById("live");
  const run = state.run;
  const atMost = run.left === null ? run.trials : run.done + run.left;
  const decided = Object.values(run.stopped || {}).filter((c) => c.stopped.startsWith("decided")).length;
  document.getElementById("status").textContent =
    run.status + (run.trials ? ` \u00b7 ${run.done} of ${run.left === null ? "" : "at most "}${atMost} trials` : "")
    + (run.confidence ? ` \u00b7 ${decided} of ${run.cells.length} cells decided at ${Math.round(run.confidence * 100)}%` : "");
  const byCell = Object.fromEntries(state.views.map((v) => [v.cell, v]));
  const labels = run.cells.length ? run.cells : Object.keys(byCell);
  const width = Math.max(320, (live.clientWidth || window.innerWidth) / Math.max(1, labels.length) - 50);
  live.replaceChildren(...labels.map((label) => byCell[label]
    ? panel(byCell[label], run.hops, width, (run.stopped || {})[label])
    : el("div", { class: "cell", "data-cell": label }, el("h2", {}, label,
         el("span", { class: "phase" }, "waiting"), decision((run.stopped || {})[label])))));
  document.getElementById("static").replaceChildren(summary(state));
  document.body.dataset.status = run.status;
}

render(JSON.parse(document.getElementById("initial").textContent));
const source = new EventSource("/events");
let pushes = 0;
source.onmessage = (message) => {
  pushes += 1;
  document.body.dataset.pushes = pushes;
  render(JSON.parse(message.data));
};
