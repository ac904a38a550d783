/**
 * The traffic part of the demo, the same for both variants: rounds of connections from every LAN client,
 * recorded per uplink; an upstream failure after some healthy rounds; failover detected as the first round
 * in which every connection succeeded and none used the failed uplink; recovery after the upstream is
 * restored as the first round in which it carries at least half of its weighted share again. Then the
 * figures (shares, times, stickiness).
 */
import { bold, dim, green, note, ok, pct, phase, printTable, red, secs, step, warn, yellow } from "./ui";

export interface Uplink {
  /** The link's name in the resource ("link1", "wlan1"). */
  name: string;
  /** Interface and address, for tables: "wan1 10.111.0.2". */
  detail: string;
  address: string;
  weight: number;
}

/** Where one connection went: the index of the uplink that carried it, or -1 if it was lost. */
export interface ConnOutcome {
  from: string;
  uplink: number;
}

/** What a variant provides: how to send a round, what time it is, how to break and mend an upstream. */
export interface TrafficDriver {
  uplinks: Uplink[];
  clients: string[];
  connectionsPerClient: number;
  /** Time between round starts (real ms for the lab, simulated ms for the evaluator). */
  periodMs: number;
  /** "s" on the real clock, "s (simulated)" on the evaluator's. */
  clockLabel: string;
  /** How long to wait for failover / recovery before giving up. */
  patienceMs: number;
  now(): number;
  round(index: number): Promise<ConnOutcome[]>;
  /** Waits (or lets simulated time pass) until `t`. */
  waitUntil(t: number): Promise<void>;
  failUpstream(k: number): Promise<void>;
  restoreUpstream(k: number): Promise<void>;
  /** What a person would check right after the failure (first hop vs beyond): lines to print. */
  afterFailure?(k: number): Promise<string[]>;
  /** What the gateway itself says after failover / recovery (its prober's log, its routes): lines to print. */
  afterFailover?(k: number): Promise<string[]>;
  afterRecovery?(k: number): Promise<string[]>;
  /** Prints the gateway's live link status (`lbgw status`) at each phase. */
  status?(when: string): Promise<void>;
}

export interface Round {
  index: number;
  /** Start of the round on the driver's clock, relative to the first round. */
  t: number;
  /** Connections per uplink. */
  counts: number[];
  lost: number;
  perClient: Record<string, number[]>;
}

export interface TrafficEvents {
  failedUplink: number;
  failAt: number;
  /** First round sent after the failure / the restore. */
  failRound: number;
  restoreRound: number;
  failoverAt?: number;
  failoverRound?: number;
  restoreAt: number;
  recoveredAt?: number;
  recoveredRound?: number;
  /** Set when no return to the failed uplink is expected after the restore (and why). */
  noRecoveryBecause?: string;
}

export interface TrafficRun {
  rounds: Round[];
  events: TrafficEvents;
}

export interface Plan {
  healthyRounds: number;
  /** Rounds to keep sending after failover (before the upstream is restored). */
  afterFailoverRounds: number;
  afterRecoveryRounds: number;
  /** Which uplink's upstream fails (index into driver.uplinks). */
  failUplink: number;
  interrupted: () => boolean;
  /** Printed under the traffic phase's header. */
  intro?: string;
  /** When set, the users are not expected back on the restored uplink (and this says why). */
  noRecoveryBecause?: string;
}

const BAR = 24;

/** A bar of n × scale blocks, padded to BAR columns (so the columns after it line up). */
function bar(n: number, scale: number, colour: (s: string) => string, pad = true): string {
  const w = Math.min(BAR, Math.round(n * scale));
  return colour("█".repeat(w)) + (pad ? " ".repeat(BAR - w) : "");
}

function roundLine(d: TrafficDriver, r: Round, total: number): string {
  const scale = BAR / Math.max(1, total);
  const colours = [green, yellow, (s: string) => s, (s: string) => s];
  const cells = d.uplinks.map(
    (u, i) => `${u.name} ${String(r.counts[i]).padStart(3)} ${bar(r.counts[i], scale, colours[i % 4])}`,
  );
  const lost = r.lost ? red(`lost ${String(r.lost).padStart(3)} ${bar(r.lost, scale, red, false)}`) : "";
  const line = `${dim(`round ${String(r.index).padStart(3)}  t=${(r.t / 1000).toFixed(2).padStart(6)}s`)}  ${cells.join("  ")}  ${lost}`;
  return line.trimEnd();
}

export class AbortTraffic extends Error {}

/** Runs the rounds: healthy, failure until failover (and a little after), recovery (and a little after). */
export async function runTraffic(d: TrafficDriver, plan: Plan): Promise<TrafficRun> {
  const rounds: Round[] = [];
  const total = d.clients.length * d.connectionsPerClient;
  const k = plan.failUplink;
  const failed = d.uplinks[k];
  let t0 = 0;
  let next = 0;

  const once = async (): Promise<Round> => {
    if (plan.interrupted()) throw new AbortTraffic("interrupted");
    if (rounds.length) await d.waitUntil(t0 + next);
    const start = d.now();
    if (!rounds.length) t0 = start;
    const outcomes = await d.round(rounds.length + 1);
    const r: Round = {
      index: rounds.length + 1,
      t: start - t0,
      counts: d.uplinks.map(() => 0),
      lost: 0,
      perClient: {},
    };
    for (const o of outcomes) {
      if (o.uplink < 0) {
        r.lost++;
        continue;
      }
      r.counts[o.uplink]++;
      (r.perClient[o.from] ??= d.uplinks.map(() => 0))[o.uplink]++;
    }
    rounds.push(r);
    console.log(`           ${roundLine(d, r, total)}`);
    // next round on schedule; when a round overran (lost connections wait for their timeout), right away
    next = Math.max(next + d.periodMs, d.now() - t0);
    return r;
  };

  phase(`Traffic: ${d.clients.length} LAN clients × ${d.connectionsPerClient} connections per round`);
  if (plan.intro) note(plan.intro);
  note(
    `every ${d.periodMs} ms${d.clockLabel.includes("simulated") ? " of simulated time" : ""}; ` +
      `each line is one round: connections per uplink (by the source address the server sees), lost = no answer`,
  );
  for (let i = 0; i < plan.healthyRounds; i++) await once();
  await d.status?.("before the failure");

  // events happen half-way between two rounds
  const halfway = () => d.waitUntil(t0 + next - d.periodMs / 2);
  phase(`Upstream failure on ${failed.name} (${failed.detail})`);
  await halfway();
  const failAt = d.now() - t0;
  await d.failUpstream(k + 1);
  step(
    bold(
      `${failed.name}'s ISP now drops everything beyond its first hop, at t=${(failAt / 1000).toFixed(2)}s`,
    ),
  );
  note("the uplink itself stays up (carrier, address, first hop): only a probe beyond the ISP can tell");
  const checks = d.afterFailure ? d.afterFailure(k + 1) : Promise.resolve([]);
  const events: TrafficEvents = {
    failedUplink: k,
    failAt,
    failRound: rounds.length + 1,
    restoreAt: 0,
    restoreRound: 0,
  };
  let printedChecks = false;
  const printChecks = async () => {
    if (printedChecks) return;
    printedChecks = true;
    for (const l of await checks) note(l);
  };
  for (;;) {
    const r = await once();
    await printChecks(); // after the first round of the failure (the checks ran meanwhile)
    if (r.lost === 0 && r.counts[k] === 0) {
      events.failoverAt = r.t;
      events.failoverRound = r.index;
      ok(
        bold(
          `failover: round ${r.index} is the first with every connection on the remaining uplink(s), ` +
            `${secs(r.t - failAt)} after the failure`,
        ),
      );
      break;
    }
    if (r.t - failAt > d.patienceMs) {
      warn(`no failover within ${secs(d.patienceMs)} of the failure: giving up waiting`);
      break;
    }
  }
  if (d.afterFailover) for (const l of await d.afterFailover(k + 1)) note(l);
  await d.status?.("during the failure");
  for (let i = 0; i < plan.afterFailoverRounds; i++) await once();

  phase(`Upstream of ${failed.name} restored`);
  await halfway();
  events.restoreAt = d.now() - t0;
  events.restoreRound = rounds.length + 1;
  await d.restoreUpstream(k + 1);
  step(bold(`${failed.name}'s ISP forwards again, at t=${(events.restoreAt / 1000).toFixed(2)}s`));
  if (plan.noRecoveryBecause) {
    events.noRecoveryBecause = plan.noRecoveryBecause;
    note(plan.noRecoveryBecause);
    for (let i = 0; i < plan.afterRecoveryRounds; i++) await once();
    if (d.afterRecovery) for (const l of await d.afterRecovery(k + 1)) note(l);
    await d.status?.("after the restore");
    return { rounds, events };
  }
  // back: the failed uplink carries at least half of its share of a round again (a stray connection is not)
  const wsum = d.uplinks.reduce((n, u) => n + u.weight, 0);
  const half = (total * failed.weight) / wsum / 2;
  for (;;) {
    const r = await once();
    if (r.counts[k] >= half) {
      events.recoveredAt = r.t;
      events.recoveredRound = r.index;
      ok(
        bold(
          `recovery: round ${r.index} sends ${r.counts[k]} connections through ${failed.name} again, ` +
            `${secs(r.t - events.restoreAt)} after the restore`,
        ),
      );
      break;
    }
    if (r.t - events.restoreAt > d.patienceMs) {
      warn(`no recovery within ${secs(d.patienceMs)} of the restore: giving up waiting`);
      break;
    }
  }
  if (d.afterRecovery) for (const l of await d.afterRecovery(k + 1)) note(l);
  await d.status?.("after recovery");
  for (let i = 0; i < plan.afterRecoveryRounds; i++) await once();
  return { rounds, events };
}

// --- figures -------------------------------------------------------------------------------------------------

export interface PhaseFigures {
  phase: string;
  rounds: number;
  perUplink: number[];
  lost: number;
  shares: number[];
  expected: number[];
}

export interface Figures {
  phases: PhaseFigures[];
  healthy: PhaseFigures;
  failoverMs?: number;
  recoveryMs?: number;
  noRecoveryBecause?: string;
  lostDuringDetection: number;
  sticky: {
    /** Clients whose healthy-phase connections all used one uplink. */
    singleUplinkClients: number;
    clients: number;
    /** Per uplink: clients that used only it. */
    clientsPerUplink: number[];
  };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function figuresOf(name: string, rounds: Round[], expected: number[]): PhaseFigures {
  const perUplink = expected.map((_, i) => sum(rounds.map((r) => r.counts[i])));
  const lost = sum(rounds.map((r) => r.lost));
  const all = sum(perUplink) + lost;
  return {
    phase: name,
    rounds: rounds.length,
    perUplink,
    lost,
    shares: perUplink.map((n) => (all ? n / all : 0)),
    expected,
  };
}

export function computeFigures(d: TrafficDriver, run: TrafficRun): Figures {
  const { rounds, events } = run;
  const weights = d.uplinks.map((u) => u.weight);
  const w = sum(weights);
  const expectedHealthy = weights.map((x) => x / w);
  const survivors = weights.map((x, i) => (i === events.failedUplink ? 0 : x));
  const expectedFailed = survivors.map((x) => x / sum(survivors));
  // phases by round number: [from, to)
  const failover = events.failoverRound ?? events.restoreRound;
  const recovered = events.recoveredRound ?? Infinity;
  const between = (from: number, to: number) => rounds.filter((r) => r.index >= from && r.index < to);
  const healthyRounds = between(1, events.failRound);
  const phases = [
    figuresOf("healthy", healthyRounds, expectedHealthy),
    figuresOf("failure, before failover", between(events.failRound, failover), expectedFailed),
    figuresOf("after failover", between(failover, events.restoreRound), expectedFailed),
    figuresOf(
      events.noRecoveryBecause ? "restored (users stay)" : "restored, before recovery",
      between(events.restoreRound, recovered),
      expectedFailed,
    ),
    figuresOf("after recovery", between(recovered, Infinity), expectedHealthy),
  ];
  const perClient = new Map<string, number[]>();
  for (const r of healthyRounds)
    for (const [c, n] of Object.entries(r.perClient)) {
      const acc = perClient.get(c) ?? d.uplinks.map(() => 0);
      n.forEach((x, i) => (acc[i] += x));
      perClient.set(c, acc);
    }
  const used = [...perClient.values()].map((n) => n.map((x, i) => (x > 0 ? i : -1)).filter((i) => i >= 0));
  return {
    phases,
    healthy: phases[0],
    failoverMs: events.failoverAt === undefined ? undefined : events.failoverAt - events.failAt,
    recoveryMs: events.recoveredAt === undefined ? undefined : events.recoveredAt - events.restoreAt,
    noRecoveryBecause: events.noRecoveryBecause,
    lostDuringDetection: phases[1].lost,
    sticky: {
      singleUplinkClients: used.filter((u) => u.length === 1).length,
      clients: perClient.size,
      clientsPerUplink: d.uplinks.map((_, i) => used.filter((u) => u.length === 1 && u[0] === i).length),
    },
  };
}

/** The per-uplink table (healthy rounds), the phase table, the times and the stickiness verdict. */
export function printFigures(d: TrafficDriver, f: Figures, sticky: boolean): void {
  const h = f.healthy;
  step(bold(`per uplink, healthy rounds (${h.rounds} rounds, ${sum(h.perUplink) + h.lost} connections)`));
  printTable(
    ["uplink", "interface / address", "weight", "connections", "share", "expected", "clients only on it"],
    d.uplinks.map((u, i) => [
      u.name,
      u.detail,
      String(u.weight),
      String(h.perUplink[i]),
      pct(h.shares[i]),
      pct(h.expected[i]),
      `${f.sticky.clientsPerUplink[i]} of ${f.sticky.clients}`,
    ]),
    ["l", "l", "r", "r", "r", "r", "r"],
  );
  if (h.lost) warn(`${h.lost} connections were lost while every uplink was healthy`);
  const st = f.sticky;
  if (sticky) {
    const good = st.singleUplinkClients === st.clients;
    (good ? ok : warn)(
      `sticky check: ${st.singleUplinkClients} of ${st.clients} clients kept one uplink for all their connections` +
        (good ? "" : " (expected all of them)"),
    );
  } else {
    const mixed = st.clients - st.singleUplinkClients;
    const good = mixed === st.clients;
    (good ? ok : warn)(
      `sticky check: off (per-connection balancing): ${mixed} of ${st.clients} clients used both uplinks` +
        (good ? ", as they should" : ""),
    );
  }
  console.log("");
  step(bold("per phase"));
  printTable(
    ["phase", "rounds", ...d.uplinks.map((u) => u.name), "lost", "shares", "expected"],
    f.phases
      .filter((p) => p.rounds > 0 || !f.noRecoveryBecause)
      .map((p) => [
        p.phase,
        String(p.rounds),
        ...p.perUplink.map(String),
        String(p.lost),
        p.rounds ? p.shares.map((s) => pct(s)).join(" / ") : "-",
        p.expected.map((s) => pct(s)).join(" / "),
      ]),
    ["l", "r", ...d.uplinks.map(() => "r" as const), "r", "r", "r"],
  );
  console.log("");
  if (f.failoverMs !== undefined)
    ok(
      `failover detected and applied ${secs(f.failoverMs)} after the upstream failed ` +
        `(${f.lostDuringDetection} connections lost meanwhile)`,
    );
  else warn("no failover was observed");
  if (f.recoveryMs !== undefined) ok(`recovery ${secs(f.recoveryMs)} after the upstream came back`);
  else if (f.noRecoveryBecause)
    note("no return to the restored uplink expected: sticky users stay where they moved");
  else warn("no recovery was observed");
}
