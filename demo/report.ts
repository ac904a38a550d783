/** Verdicts on what the traffic showed, and the files the demo leaves: the chart and summary.json. */
import * as fs from "node:fs";
import * as path from "node:path";
import { renderChart, type ChartOptions } from "./chart";
import type { Verdict, VariantResult } from "./context";
import type { Figures } from "./traffic";
import { pct, secs } from "./ui";

/** Healthy shares within this many percentage points of the weights count as "as configured". */
const SHARE_TOLERANCE = 0.05;

export function trafficVerdicts(f: Figures, sticky: boolean): Verdict[] {
  const h = f.healthy;
  const worst = Math.max(...h.shares.map((s, i) => Math.abs(s - h.expected[i])));
  const failoverPhase = f.phases[2]; // phases: healthy, before failover, after failover, restored, recovered
  const recovered = f.phases[4];
  const verdicts: Verdict[] = [
    {
      what: "shares follow the weights",
      ok: h.rounds > 0 && worst <= SHARE_TOLERANCE && h.lost === 0,
      detail: `${h.shares.map(pct).join(" / ")} vs ${h.expected.map(pct).join(" / ")}, ${h.lost} lost`,
    },
    {
      what: "failover",
      ok: f.failoverMs !== undefined,
      detail: f.failoverMs === undefined ? "not observed" : `after ${secs(f.failoverMs)}`,
    },
    {
      what: "nothing lost after failover",
      ok: failoverPhase.rounds > 0 && failoverPhase.lost === 0,
      detail: `${failoverPhase.lost} lost in ${failoverPhase.rounds} rounds`,
    },
    f.noRecoveryBecause
      ? {
          what: "after the restore",
          ok: f.phases[3].lost === 0,
          detail: `${f.phases[3].lost} lost; the users stay on the uplink they moved to (sticky)`,
        }
      : {
          what: "recovery",
          ok:
            f.recoveryMs !== undefined &&
            recovered.rounds > 0 &&
            recovered.lost === 0 &&
            Math.max(...recovered.shares.map((x, i) => Math.abs(x - recovered.expected[i]))) <=
              SHARE_TOLERANCE,
          detail:
            f.recoveryMs === undefined
              ? "not observed"
              : `after ${secs(f.recoveryMs)}; then ${recovered.shares.map(pct).join(" / ")}, ${recovered.lost} lost`,
        },
  ];
  if (sticky)
    verdicts.push({
      what: "sticky users",
      ok: f.sticky.singleUplinkClients === f.sticky.clients,
      detail: `${f.sticky.singleUplinkClients} of ${f.sticky.clients} clients on one uplink`,
    });
  return verdicts;
}

export function writeOutputs(
  outDir: string,
  r: VariantResult,
  chart: ChartOptions,
): { chartPath: string; summaryPath: string } {
  fs.mkdirSync(outDir, { recursive: true });
  const chartPath = path.join(outDir, "chart.svg");
  const summaryPath = path.join(outDir, "summary.json");
  fs.writeFileSync(chartPath, renderChart(r.driver, r.run, chart));
  const { events, rounds } = r.run;
  const summary = {
    variant: r.variant,
    target: r.target,
    example: r.example,
    generatedAt: new Date().toISOString(),
    clock: r.driver.clockLabel,
    clients: r.driver.clients.length,
    connectionsPerRound: r.driver.clients.length * r.driver.connectionsPerClient,
    roundPeriodMs: r.driver.periodMs,
    uplinks: r.driver.uplinks,
    events: {
      failedUplink: r.driver.uplinks[events.failedUplink].name,
      failAtMs: events.failAt,
      failoverAtMs: events.failoverAt ?? null,
      failoverRound: events.failoverRound ?? null,
      restoreAtMs: events.restoreAt,
      recoveredAtMs: events.recoveredAt ?? null,
      recoveredRound: events.recoveredRound ?? null,
    },
    failoverMs: r.figures.failoverMs ?? null,
    recoveryMs: r.figures.recoveryMs ?? null,
    lostDuringDetection: r.figures.lostDuringDetection,
    phases: r.figures.phases,
    sticky: r.figures.sticky,
    verdicts: r.verdicts,
    facts: r.facts,
    timingsMs: r.timings,
    rounds: rounds.map((x) => ({ round: x.index, tMs: x.t, perUplink: x.counts, lost: x.lost })),
  };
  fs.writeFileSync(summaryPath, JSON.stringify(summary, null, 2) + "\n");
  return { chartPath, summaryPath };
}
