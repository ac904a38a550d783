/**
 * The chart, written by hand as SVG (no library): connections per uplink per round over time, lost
 * connections, the failure / failover / restore / recovery moments marked, the detection and recovery
 * windows shaded, the expected per-round counts as dotted guides.
 */
import type { TrafficDriver, TrafficRun } from "./traffic";

const W = 1040;
const H = 600;
const M = { left: 72, right: 250, top: 118, bottom: 64 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"];
const LOST = "#d62728";
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const f1 = (x: number) => x.toFixed(1);

/** About `n` round tick values covering 0..max. */
function ticks(max: number, n: number): number[] {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Number(v.toFixed(6)));
  return out;
}

export interface ChartOptions {
  title: string;
  /** One or two lines under the title. */
  subtitle: string[];
  /** Label of the x axis, e.g. "time since the first round (s)". */
  xLabel: string;
  footer: string;
}

export function renderChart(d: TrafficDriver, run: TrafficRun, opts: ChartOptions): string {
  const { rounds, events } = run;
  const perRound = d.clients.length * d.connectionsPerClient;
  const lastT = rounds.length ? rounds[rounds.length - 1].t : 0;
  const xMax = (lastT + d.periodMs) / 1000;
  // headroom above the highest value, so a line at the maximum does not run along the frame
  const yMax = 1.08 * Math.max(perRound, ...rounds.map((r) => Math.max(r.lost, ...r.counts)));
  const yTicks = ticks(yMax, 6).filter((v) => v <= yMax);
  const yTop = yMax;
  const x = (tMs: number) => M.left + (tMs / 1000 / xMax) * PW;
  const y = (v: number) => M.top + PH - (v / yTop) * PH;
  const out: string[] = [];
  const push = (s: string) => out.push(s);

  push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`);
  push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  push(`<text x="${M.left}" y="30" font-size="19" font-weight="bold" fill="#222">${esc(opts.title)}</text>`);
  opts.subtitle.forEach((line, i) =>
    push(`<text x="${M.left}" y="${54 + 17 * i}" font-size="13" fill="#555">${esc(line)}</text>`),
  );

  // shaded windows
  const band = (from: number | undefined, to: number | undefined, fill: string, label: string) => {
    if (from === undefined || to === undefined || to <= from) return;
    push(
      `<rect x="${f1(x(from))}" y="${M.top}" width="${f1(x(to) - x(from))}" height="${PH}" fill="${fill}"><title>${esc(label)}</title></rect>`,
    );
  };
  band(events.failAt, events.failoverAt, "#fde0dd", "detection window");
  band(events.failoverAt, events.restoreAt, "#f4f4f4", "running on the remaining uplink");
  band(events.restoreAt, events.recoveredAt, "#e5f5e0", "recovery window");

  // grid and axes
  for (const v of yTicks) {
    push(`<line x1="${M.left}" x2="${M.left + PW}" y1="${f1(y(v))}" y2="${f1(y(v))}" stroke="#e3e3e3"/>`);
    push(
      `<text x="${M.left - 8}" y="${f1(y(v) + 4)}" font-size="12" text-anchor="end" fill="#444">${v}</text>`,
    );
  }
  for (const v of ticks(xMax, 10)) {
    const px = x(v * 1000);
    push(`<line x1="${f1(px)}" x2="${f1(px)}" y1="${M.top + PH}" y2="${M.top + PH + 5}" stroke="#444"/>`);
    push(
      `<text x="${f1(px)}" y="${M.top + PH + 19}" font-size="12" text-anchor="middle" fill="#444">${v}</text>`,
    );
  }
  push(`<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#888"/>`);
  push(
    `<text x="${M.left + PW / 2}" y="${H - 22}" font-size="13" text-anchor="middle" fill="#222">${esc(opts.xLabel)}</text>`,
  );
  push(
    `<text transform="translate(22 ${M.top + PH / 2}) rotate(-90)" font-size="13" text-anchor="middle" fill="#222">connections per round (${perRound} sent)</text>`,
  );

  // expected per-round counts while healthy (dotted guides, labelled at the right edge)
  const wsum = d.uplinks.reduce((s, u) => s + u.weight, 0);
  d.uplinks.forEach((u, i) => {
    const v = (perRound * u.weight) / wsum;
    push(
      `<line x1="${M.left}" x2="${M.left + PW}" y1="${f1(y(v))}" y2="${f1(y(v))}" stroke="${COLOURS[i % 4]}" stroke-dasharray="2 4" stroke-opacity="0.7"/>`,
    );
    push(
      `<text x="${M.left + PW - 6}" y="${f1(y(v) - 5)}" font-size="11" text-anchor="end" fill="${COLOURS[i % 4]}">expected ${Number(v.toFixed(1))} (weight ${u.weight} of ${wsum})</text>`,
    );
  });

  // event markers: a vertical line into the plot and a label above it. Labels go in rows above the plot
  // (row 0 nearest), each left or right of its line; the layout with the fewest moves from "row 0, preferred
  // side" where no label overlaps another and no marker line runs through another marker's label.
  interface Marker {
    x: number;
    colour: string;
    dash: string;
    label: string;
    prefer: "start" | "end";
  }
  interface Spot {
    row: number;
    anchor: "start" | "end";
    from: number;
    to: number;
  }
  const rowY = (row: number) => M.top - 8 - row * 16;
  const failed = d.uplinks[events.failedUplink].name;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const markers: Marker[] = [
    {
      t: events.failAt,
      colour: LOST,
      dash: "6 4",
      label: `${failed} upstream fails`,
      prefer: "end" as const,
    },
    {
      t: events.failoverAt,
      colour: "#a50f15",
      dash: "",
      label: `failover (+${s((events.failoverAt ?? 0) - events.failAt)})`,
      prefer: "start" as const,
    },
    {
      t: events.restoreAt,
      colour: "#31a354",
      dash: "6 4",
      label: "upstream restored",
      prefer: "end" as const,
    },
    {
      t: events.recoveredAt,
      colour: "#006d2c",
      dash: "",
      label: `recovery (+${s((events.recoveredAt ?? 0) - events.restoreAt)})`,
      prefer: "start" as const,
    },
  ]
    .filter((m): m is typeof m & { t: number } => m.t !== undefined)
    .map((m) => ({ x: x(m.t), colour: m.colour, dash: m.dash, label: m.label, prefer: m.prefer }));
  const spotsOf = (m: Marker): Array<Spot & { cost: number }> =>
    [0, 1, 2].flatMap((row) =>
      (["start", "end"] as const).map((anchor) => {
        const width = m.label.length * 7.4;
        const from = anchor === "end" ? m.x - 5 - width : m.x + 5;
        return { row, anchor, from, to: from + width, cost: row * 2 + (anchor === m.prefer ? 0 : 1) };
      }),
    );
  const clash = (a: Marker, sa: Spot, b: Marker, sb: Spot) =>
    (sa.row === sb.row && sa.from < sb.to + 6 && sa.to > sb.from - 6) ||
    (sa.row > sb.row && a.x > sb.from - 3 && a.x < sb.to + 3) ||
    (sb.row > sa.row && b.x > sa.from - 3 && b.x < sa.to + 3);
  let best: { spots: Spot[]; cost: number } | undefined;
  const search = (i: number, chosen: Spot[], cost: number) => {
    if (best && cost >= best.cost) return;
    if (i === markers.length) {
      best = { spots: [...chosen], cost };
      return;
    }
    for (const spot of spotsOf(markers[i])) {
      if (chosen.some((c, j) => clash(markers[j], c, markers[i], spot))) continue;
      chosen.push(spot);
      search(i + 1, chosen, cost + spot.cost);
      chosen.pop();
    }
  };
  search(0, [], 0);
  markers.forEach((m, i) => {
    const spot = best?.spots[i] ?? (spotsOf(m).find((p) => p.row === 0 && p.anchor === m.prefer) as Spot);
    push(
      `<line x1="${f1(m.x)}" x2="${f1(m.x)}" y1="${rowY(spot.row) - 11}" y2="${M.top + PH}" stroke="${m.colour}" stroke-width="1.8" ${m.dash ? `stroke-dasharray="${m.dash}"` : ""}/>`,
    );
    push(
      `<text x="${f1(spot.anchor === "end" ? m.x - 5 : m.x + 5)}" y="${rowY(spot.row)}" font-size="12" font-weight="bold" text-anchor="${spot.anchor}" fill="${m.colour}">${esc(m.label)}</text>`,
    );
  });

  // series: one step line per uplink (a round's count holds until the next round starts), and the lost
  const series = (
    values: number[],
    colour: string,
    width: number,
    dash = "",
    from = 0,
    to = rounds.length,
  ) => {
    const pts: string[] = [];
    rounds.slice(from, to).forEach((r, j) => {
      const i = from + j;
      const end = i + 1 < rounds.length ? rounds[i + 1].t : r.t + d.periodMs;
      pts.push(`${f1(x(r.t))},${f1(y(values[i]))}`, `${f1(x(end))},${f1(y(values[i]))}`);
    });
    push(
      `<polyline points="${pts.join(" ")}" fill="none" stroke="${colour}" stroke-width="${width}" stroke-linejoin="round" ${dash ? `stroke-dasharray="${dash}"` : ""}/>`,
    );
  };
  d.uplinks.forEach((_, i) =>
    series(
      rounds.map((r) => r.counts[i]),
      COLOURS[i % 4],
      2.4,
    ),
  );
  // lost connections: only around the rounds that lost some (a red line along zero would only clutter)
  const firstLost = rounds.findIndex((r) => r.lost > 0);
  if (firstLost >= 0) {
    const lastLost = rounds.length - 1 - [...rounds].reverse().findIndex((r) => r.lost > 0);
    const lost = rounds.map((r) => r.lost);
    series(lost, LOST, 1.8, "5 3", Math.max(0, firstLost - 1), Math.min(rounds.length, lastLost + 2));
  }

  // legend
  const lx = M.left + PW + 18;
  let ly = M.top + 10;
  const legendLine = (colour: string, label: string, dash = "") => {
    push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2.4" ${dash ? `stroke-dasharray="${dash}"` : ""}/>`,
    );
    push(`<text x="${lx + 30}" y="${ly + 4}" font-size="12" fill="#222">${esc(label)}</text>`);
    ly += 20;
  };
  const legendBox = (fill: string, label: string) => {
    push(`<rect x="${lx}" y="${ly - 7}" width="24" height="14" fill="${fill}" stroke="#bbb"/>`);
    push(`<text x="${lx + 30}" y="${ly + 4}" font-size="12" fill="#222">${esc(label)}</text>`);
    ly += 20;
  };
  d.uplinks.forEach((u, i) => {
    legendLine(COLOURS[i % 4], `${u.name} (weight ${u.weight})`);
    push(`<text x="${lx + 30}" y="${ly - 2}" font-size="10.5" fill="#666">${esc(u.detail)}</text>`);
    ly += 14;
  });
  legendLine(LOST, `lost (no answer): ${rounds.reduce((n, r) => n + r.lost, 0)}`, "5 3");
  ly += 6;
  legendBox("#fde0dd", "failure, not yet detected");
  legendBox("#f4f4f4", "on the remaining uplink");
  legendBox("#e5f5e0", "restored, not yet back");

  push(
    `<text x="${W - 10}" y="${H - 6}" font-size="10" text-anchor="end" fill="#888">${esc(opts.footer)}</text>`,
  );
  push("</svg>");
  return out.join("\n") + "\n";
}
