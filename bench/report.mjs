// Turns a bench run into the Markdown table, the SVG chart, and the README's results section.
import { readFileSync, writeFileSync } from "node:fs";

const fmt = (v, unit = "") => (v === null || v === undefined ? "—" : `${Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 })}${unit}`);
const ratio = (a, b) => (a == null || b == null || b === 0 ? null : Math.round((a / b) * 100) / 100);

/** Every figure as a row: what, ours, reference, ratio, goal, met. */
export function rows(r) {
  const s = r.scenarios;
  const out = [];
  const add = (scenario, metric, ours, ref, unit, goal, met) => out.push({ scenario, metric, ours, ref, unit, ratio: ratio(ours, ref), goal, met });

  const s1 = s.sequential;
  if (s1) {
    add("1 sequential, 1 socket", "acks/s", s1.ours.acksPerSecond, s1.reference.acksPerSecond, "", "≥ 0.75×", ratio(s1.ours.acksPerSecond, s1.reference.acksPerSecond) >= 0.75);
    add("1 sequential, 1 socket", "latency p50", s1.ours.latencyMs.p50, s1.reference.latencyMs.p50, " ms");
    add("1 sequential, 1 socket", "latency p99", s1.ours.latencyMs.p99, s1.reference.latencyMs.p99, " ms");
    add("1 sequential, 1 socket", "latency max", s1.ours.latencyMs.max, s1.reference.latencyMs.max, " ms");
  }

  const s2 = s.concurrent;
  if (s2) {
    add(`2 ${s2.ours.sessions} sessions × 2 sockets`, "acks/s", s2.ours.acksPerSecond, s2.reference.acksPerSecond, "", "≥ 0.75×", ratio(s2.ours.acksPerSecond, s2.reference.acksPerSecond) >= 0.75);
    add(`2 ${s2.ours.sessions} sessions × 2 sockets`, "latency p50", s2.ours.latencyMs.p50, s2.reference.latencyMs.p50, " ms");
    add(`2 ${s2.ours.sessions} sessions × 2 sockets`, "latency p99", s2.ours.latencyMs.p99, s2.reference.latencyMs.p99, " ms", "≤ 1.5×", ratio(s2.ours.latencyMs.p99, s2.reference.latencyMs.p99) <= 1.5);
    add(`2 ${s2.ours.sessions} sessions × 2 sockets`, "broadcast delivered", s2.ours.deliveryRate * 100, s2.reference.deliveryRate * 100, " %", "100 %", s2.ours.deliveryRate === 1);
  }

  const s3 = s.fanout;
  if (s3) {
    add(`3 fan-out to ${s3.ours.sockets} sockets`, "all received p50", s3.ours.allReceivedMs.p50, s3.reference.allReceivedMs.p50, " ms", "≤ 2×", ratio(s3.ours.allReceivedMs.p50, s3.reference.allReceivedMs.p50) <= 2);
    add(`3 fan-out to ${s3.ours.sockets} sockets`, "all received p99", s3.ours.allReceivedMs.p99, s3.reference.allReceivedMs.p99, " ms", "≤ 2×", ratio(s3.ours.allReceivedMs.p99, s3.reference.allReceivedMs.p99) <= 2);
  }

  for (const [name, h] of Object.entries(s.history ?? {})) {
    const keyset = name.startsWith("keyset");
    add(`4 history: ${name}`, "query in Worker p50", h.queryInWorkerMs.p50, h.postgresDirectMs.p50, " ms");
    add(`4 history: ${name}`, "query in Worker p99", h.queryInWorkerMs.p99, h.postgresDirectMs.p99, " ms", keyset ? "≤ 5 ms" : undefined, keyset ? h.queryInWorkerMs.p99 <= 5 : undefined);
    add(`4 history: ${name}`, "HTTP read p50 / p99", h.e2eMs.p50, null, ` / ${fmt(h.e2eMs.p99)} ms`);
  }

  const o = s.outbox?.ours;
  if (o) {
    add("5 outbox (under 2)", "ack → row in Postgres p50", o.lagMs.p50, null, " ms");
    add("5 outbox (under 2)", "ack → row in Postgres p99", o.lagMs.p99, null, " ms", "≤ 1000 ms", o.lagMs.p99 <= 1000);
    add("5 outbox (under 2)", "rows in Postgres / acks", o.rowsInPostgres, o.acks, "", "equal, gap-free", o.rowsInPostgres === o.acks && o.missing === 0 && o.gapFree);
  }

  const a = s.agents;
  if (a) {
    const o = a.ours;
    const r = a.reference;
    add("7 agents, 1 socket", "sync turn: send → stored reply p50", o.syncTurnMs.p50, r.syncTurnMs.p50, " ms");
    add("7 agents, 1 socket", "sync turn: added latency p50 (ours − reference)", o.addedP50Ms, null, " ms", "≤ 3 ms", o.addedP50Ms <= 3);
    add("7 agents, 1 socket", "first delta: agent → client p50", o.firstDeltaMs.p50, r.firstDeltaMs.p50, " ms", "≤ 2 ms", o.firstDeltaMs.p50 <= 2);
    add("7 agents, 1 socket", "first delta: agent → client p99", o.firstDeltaMs.p99, r.firstDeltaMs.p99, " ms", "≤ 10 ms", o.firstDeltaMs.p99 <= 10);
    add(`7 agents, ${s.concurrent?.ours.sessions ?? 100} sessions × 2 sockets`, "turns/s", o.turnsPerSecond, r.turnsPerSecond, "");
    add(`7 agents, ${s.concurrent?.ours.sessions ?? 100} sessions × 2 sockets`, "turns/s vs the same load's plain messages/s", o.turnsPerSecond, o.plainMessagesPerSecond, "", "≥ 0.7×", ratio(o.turnsPerSecond, o.plainMessagesPerSecond) >= 0.7);
  }

  const f = s.footprint;
  if (f) {
    add(`6 footprint`, `workerd RSS, ${f.ours.sockets} idle sockets`, f.ours.workerdRssMiB, f.reference.workerdRssMiB, " MiB");
    add(`6 footprint`, "per idle socket", f.ours.perSocketKiB, f.reference.perSocketKiB, " KiB");
    add(`6 footprint`, "bundle (gzip)", f.ours.bundle.gzipKiB, f.reference.bundle.gzipKiB, " KiB", "≤ 300 KiB", f.ours.bundle.gzipKiB <= 300);
  }
  return out;
}

export function renderTable(r) {
  const lines = [
    `Run ${r.startedAt} on ${r.machine.cpus} cores, Node ${r.machine.node}; load generator and servers share the machine. ` +
      "Reference: a bare Durable Object that writes each frame to SQLite, acks and broadcasts. " +
      "In scenario 4 the reference column is the same page read straight from PostgreSQL over TCP; " +
      "the in-Worker time (Server-Timing) has 1 ms resolution, as workerd coarsens its clock.",
    "",
    "| scenario | metric | edge-chat | reference | ratio | goal | met |",
    "|---|---|---:|---:|---:|---|---|",
  ];
  for (const row of rows(r)) {
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${fmt(row.ours, row.unit)} | ${row.ref == null ? "—" : fmt(row.ref, row.unit)} | ${row.ratio == null ? "—" : `${row.ratio}×`} | ${row.goal ?? ""} | ${row.met === undefined ? "" : row.met ? "yes" : "**no**"} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** A bar per compared figure: edge-chat as a multiple of the reference, with the goal marked. */
export function renderChart(r) {
  // The bundle is left out: the reference's is a few hundred bytes, so its ratio says nothing.
  const bars = rows(r).filter((row) => row.ratio != null && row.ref != null && !row.scenario.startsWith("4") && !row.metric.startsWith("rows") && !row.metric.startsWith("bundle"));
  const width = 760;
  const left = 330;
  const barH = 18;
  const gap = 8;
  const top = 40;
  const maxRatio = Math.min(5, Math.max(2.5, ...bars.map((b) => b.ratio)));
  const x = (v) => left + (v / maxRatio) * (width - left - 60);
  const height = top + bars.length * (barH + gap) + 40;
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">edge-chat ÷ bare Durable Object, same run (${esc(r.startedAt.slice(0, 10))})</text>`,
    `<line x1="${x(1)}" y1="${top - 8}" x2="${x(1)}" y2="${height - 30}" stroke="#555" stroke-dasharray="4 3"/>`,
    `<text x="${x(1) + 4}" y="${height - 16}" fill="#555">1× = reference</text>`,
  ];
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const color = b.met === false ? "#d9534f" : b.met === true ? "#2e8b57" : "#6c8ebf";
    parts.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(`${b.scenario.replace(/^\d /, "")}: ${b.metric}`)}</text>`);
    const end = x(Math.min(b.ratio, maxRatio));
    parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, end - left)}" height="${barH}" fill="${color}"/>`);
    parts.push(`<text x="${end + 4}" y="${y + 13}">${b.ratio}×${b.goal ? ` (goal ${esc(b.goal)})` : ""}</text>`);
  });
  parts.push(`<text x="10" y="${height - 16}" fill="#555">green: goal met · red: missed · blue: no goal</text>`);
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

/** Replaces the README's results between the bench markers. */
export function updateReadme(path, table) {
  const readme = readFileSync(path, "utf8");
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a === -1 || b === -1) return;
  const section = `${start}\n${table}\n![bench chart](bench/results/latest.svg)\n${end}`;
  writeFileSync(path, readme.slice(0, a) + section + readme.slice(b + end.length));
}
