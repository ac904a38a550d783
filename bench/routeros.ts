/**
 * Benchmark 1: the RouterOS control plane against the API simulator with 20 ms injected before every reply
 * (a router one 20 ms round trip away). Four operations through the provider's own entry points (check →
 * create / update): create of the seed 001 configuration, a no-op, one weight change, a third link added.
 *
 * Round trips on the critical path are counted from what the router received: the simulator logs the
 * arrival time of every sentence; a client that waits for a reply before sending again leaves a gap of at
 * least the injected latency, so the log splits into "waves" at gaps longer than half of it, one wave per
 * sequential wait. wall / 20 ms is shown as a cross-check (it also holds the client's local work).
 *
 * Lower bound (the fewest round trips the operation needs), computed from the operation's own write plan:
 *   1 login (/login: the API has no way to authenticate inside another command)
 * + 1 read (the version check and every menu's print pipelined: the state must be known before writing)
 * + D, the write depth the router itself forces: entries that name a routing table or an interface list
 *   created in the same operation can only be sent once it exists (D = 2), else D = 1; 0 with no writes.
 *   Placement is not counted (an `add` can carry place-before=<id>), nor the provider's own rule of
 *   writing routes before the marks that use them: the bound is what the device forces, nothing more.
 * + 1 verify read when anything was written (the outputs are the entries as read back; a no-op's read
 *   already is that).
 * TCP connect costs nothing here (the simulator delays replies only): on a real link add 1 round trip (TLS
 * +1 more) to the provider, the baseline and the bound alike.
 *
 * Baseline "one entry at a time", as per-resource tools do it (terraform-provider-routeros: one resource
 * per entry, each read on refresh by its id, each created or updated then read back, one request in flight):
 * a refresh print per entry already in the state, then for each entry in dependency order an add (with
 * place-before for ordered menus, as its place_before argument does) or set, each followed by a read-back
 * print, every request awaited before the next. Its result is checked to be the same device state.
 */
import * as provider from "../provider/index";
import type { Op, PrintedEntry } from "../provider/routeros/reconcile";
import { comparable, comparableDesired, ownedEntries, reconcile } from "../provider/routeros/reconcile";
import { claimOnDevice, readDevice, withClaim } from "../provider/routeros/backend";
import { menusFor } from "../provider/routeros/menus";
import type { DesiredState } from "../provider/routeros/render";
import { ownershipPrefix, renderRouterOs } from "../provider/routeros/render";
import { actualLines, desiredLines } from "../provider/routeros/script";
import { RosSession } from "../provider/routeros/session";
import { buildPlan } from "../provider/plan/plan";
import type { SpecInput } from "../provider/spec/schema";
import { parseSpec } from "../provider/spec/schema";
import type { LogEntry, RouterOsSim } from "../labs/routeros-sim";
import { seedNthSticky, thirdLink } from "../test/fixtures/specs";
import { seedRouter, targetOf } from "../test/routeros/support";
import type { Section } from "./lib";
import { median, progress, quietly, round } from "./lib";

export const LATENCY_MS = 20;
const OWNER = "gw";
const VERSION = "7.16.2";

type Props = Record<string, unknown>;

interface Scenario {
  name: string;
  /** The state before the measured operation (applied without latency), or undefined for a create. */
  before?: (sim: RouterOsSim) => SpecInput;
  spec: (sim: RouterOsSim) => SpecInput;
}

const base = (sim: RouterOsSim) => seedNthSticky({ owner: OWNER, target: targetOf(sim) });
const SCENARIOS: Scenario[] = [
  { name: "create (seed 001)", spec: base },
  { name: "no-op", before: base, spec: base },
  {
    name: "one weight change",
    before: base,
    spec: (sim) => {
      const s = base(sim);
      s.links = [{ ...s.links[0], weight: 2 }, s.links[1]];
      return s;
    },
  },
  {
    name: "a third link added",
    before: base,
    spec: (sim) => {
      const s = base(sim);
      s.links = [...s.links, thirdLink];
      return s;
    },
  },
];

async function checked(spec: SpecInput): Promise<Props> {
  const r = await provider.check({}, spec as unknown as Props);
  if (r.failures.length) throw new Error(`bench fixture rejected: ${JSON.stringify(r.failures)}`);
  return r.inputs;
}

/** What the spec renders to, with the claim the router holds for the owner (as the provider writes it). */
function desiredOf(spec: SpecInput, sim: RouterOsSim): DesiredState {
  const r = parseSpec(spec);
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  const desired = renderRouterOs(buildPlan(r.spec), 7);
  const claim = claimOnDevice(OWNER, { "/interface/list": sim.entries("/interface/list") as PrintedEntry[] });
  return claim ? withClaim(desired, claim) : desired;
}

const deviceOf = (sim: RouterOsSim) => ({
  host: sim.host,
  port: sim.port,
  username: "admin",
  password: "s3cret",
  timeoutMs: 10_000,
  version: 7 as const,
});

/** Sequential waits in a slice of the simulator's log (see the header). */
export function waves(log: LogEntry[], latencyMs = LATENCY_MS): number {
  let n = 0;
  let last = -Infinity;
  for (const e of log) {
    if (e.at - last > latencyMs / 2) n++;
    last = e.at;
  }
  return n;
}

/** The write depth the router forces on this plan (see the header). */
export function forcedDepth(batches: Op[][]): number {
  const ops = batches.flat().filter((o) => o.op !== "move");
  if (!ops.length) return 0;
  const namesMenus = ["/routing/table", "/interface/list"];
  const created = new Set(
    ops.flatMap((o) => (o.op === "add" && namesMenus.includes(o.menu) ? [o.attrs.name] : [])),
  );
  const refers = (o: Op) =>
    (o.op === "add" || o.op === "set") &&
    !namesMenus.includes(o.menu) &&
    Object.values(o.attrs).some((v) =>
      [...created].some((n) => v.replace(/^!/, "") === n || v.endsWith(`@${n}`)),
    );
  const removesNames = ops.some((o) => o.op === "remove" && namesMenus.includes(o.menu));
  const removesOthers = ops.some((o) => o.op === "remove" && !namesMenus.includes(o.menu));
  return ops.some(refers) || (removesNames && removesOthers) ? 2 : 1;
}

interface Run {
  ms: number;
  waves: number;
  commands: number;
  writes: number;
  lowerBound: number;
  converged: boolean;
}

/** Runs `work` on a session of its own to the simulated router. */
async function withSession<T>(sim: RouterOsSim, work: (session: RosSession) => Promise<T>): Promise<T> {
  const session = await RosSession.open(deviceOf(sim));
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

interface Start {
  sim: RouterOsSim;
  /** The resource's id and outputs after `before`, as Pulumi would hold them (a create has none). */
  id: string;
  olds?: Props;
  /** The write plan of the operation (for the lower bound). */
  plan: Op[][];
}

/** A fresh router brought to the scenario's starting point (no latency); the write plan of the operation. */
async function prepare(scenario: Scenario): Promise<Start> {
  const sim = await seedRouter(VERSION);
  let id = `${OWNER}@pending`;
  let olds: Props | undefined;
  if (scenario.before) {
    const created = await provider.create(await checked(scenario.before(sim)));
    id = created.id as string;
    olds = created.outs as Props;
  }
  const actual = await withSession(sim, (session) => readDevice(session, 7));
  const plan = reconcile({ owner: OWNER, version: 7, desired: desiredOf(scenario.spec(sim), sim), actual });
  return { sim, id, olds, plan: plan.batches };
}

const lowerBound = (plan: Op[][]) => {
  const d = forcedDepth(plan);
  return 1 + 1 + d + (d > 0 ? 1 : 0);
};

/**
 * A client of the router: given the scenario's starting point, does its untimed preparation (no latency
 * yet) and returns the operation to time.
 */
type Client = (scenario: Scenario, start: Start) => Promise<() => Promise<unknown>>;

/**
 * One timed operation on a fresh router: the client's operation with the latency on, its wall time, the
 * round trips and commands the router saw, and whether the router then holds the scenario's desired state.
 */
async function timedRun(scenario: Scenario, client: Client): Promise<Run> {
  const start = await prepare(scenario);
  const { sim } = start;
  try {
    const operation = await client(scenario, start);
    sim.faults.latencyMs(LATENCY_MS);
    const from = sim.log.length;
    sim.resetStats();
    const started = performance.now();
    await operation();
    const ms = performance.now() - started;
    const stats = sim.stats();
    const w = waves(sim.log.slice(from));
    sim.faults.clear();
    const lines = await withSession(sim, async (session) =>
      actualLines(OWNER, await readDevice(session, 7), 7),
    );
    return {
      ms,
      waves: w,
      commands: stats.commands,
      writes: stats.writes,
      lowerBound: lowerBound(start.plan),
      converged:
        JSON.stringify(lines) === JSON.stringify(desiredLines(desiredOf(scenario.spec(sim), sim), 7)),
    };
  } finally {
    await sim.close();
  }
}

/** The provider as Pulumi drives it: create, or update with the stored outputs. */
const providerClient: Client = async (scenario, { sim, id, olds }) => {
  const news = await checked(scenario.spec(sim));
  return () => (olds ? provider.update(id, olds, news) : provider.create(news));
};

/** Baseline: one entry at a time, every request awaited (see the header). */
const baselineClient: Client = async (scenario, { sim }) => {
  const desired = desiredOf(scenario.spec(sim), sim);
  // What the per-resource tool's state knows: the entries it created before (by comment, standing in for ids).
  // Its comments as created (the LAN list's also carries the resource's claim).
  const known = new Map(
    menusFor(7).flatMap((m) =>
      [...ownedEntries(OWNER, sim.entries(m.path) as PrintedEntry[])].map(
        ([k, [e]]) => [`${m.path} ${k}`, e.comment ?? ""] as const,
      ),
    ),
  );
  return () =>
    withSession(sim, async (session) => {
      const prefix = ownershipPrefix(OWNER);
      const found = new Map<string, PrintedEntry>();
      // refresh: one read per entry in the state
      for (const m of menusFor(7))
        for (const d of desired[m.path] ?? [])
          if (known.has(`${m.path} ${d.key}`)) {
            const comment = known.get(`${m.path} ${d.key}`) as string;
            const [e] = await session.command([`${m.path}/print`, `?comment=${comment}`]);
            if (e) found.set(`${m.path} ${d.key}`, e);
          }
      const phases = [...menusFor(7)].sort((a, b) => a.phase - b.phase);
      for (const m of phases) {
        const entries = desired[m.path] ?? [];
        for (let i = 0; i < entries.length; i++) {
          const d = entries[i];
          const have = found.get(`${m.path} ${d.key}`);
          const attrs = (a: Record<string, string>) => Object.entries(a).map(([k, v]) => `=${k}=${v}`);
          if (!have) {
            const words = [`${m.path}/add`, ...attrs(d.attrs)];
            if (m.placement === "top") {
              // place_before: the next entry of the block that exists, else the first foreign entry
              const next = entries
                .slice(i + 1)
                .map((n) => found.get(`${m.path} ${n.key}`)?.[".id"])
                .find(Boolean);
              const anchor =
                next ?? sim.entries(m.path).find((e) => !(e.comment ?? "").startsWith(prefix))?.[".id"];
              if (anchor) words.push(`=place-before=${anchor}`);
            }
            const [{ ret }] = await session.command(words);
            const [e] = await session.command([`${m.path}/print`, `?.id=${ret}`]);
            found.set(`${m.path} ${d.key}`, e);
            continue;
          }
          const want = comparableDesired(m, d.attrs);
          const now = comparable(m, 7, have);
          const changed = Object.keys(want).filter((p) => now[p] !== want[p]);
          if (changed.length) {
            await session.command([
              `${m.path}/set`,
              `=.id=${have[".id"]}`,
              ...attrs(Object.fromEntries(changed.map((p) => [p, d.attrs[p]]))),
            ]);
            await session.command([`${m.path}/print`, `?.id=${have[".id"]}`]);
          }
        }
      }
    });
};

function summarise(runs: Run[]): Run {
  return {
    ms: median(runs.map((r) => r.ms)),
    waves: median(runs.map((r) => r.waves)),
    commands: median(runs.map((r) => r.commands)),
    writes: median(runs.map((r) => r.writes)),
    lowerBound: runs[0].lowerBound,
    converged: runs.every((r) => r.converged),
  };
}

/** A table row of a summarised run (columns as in the section below). */
const runRow = (operation: string, client: string, r: Run): Section["rows"][number] => [
  operation,
  client,
  round(r.ms, 0),
  r.waves,
  round(r.ms / LATENCY_MS, 1),
  r.commands,
  r.writes,
  r.lowerBound,
  round(r.waves / r.lowerBound, 2),
  r.converged ? "yes" : "NO",
];

export async function benchRouterOs(opts: { repeats: number }): Promise<Section> {
  const rows: Section["rows"] = [];
  const data: Record<string, unknown> = {};
  const verdicts: string[] = [];
  await quietly(async () => {
    // warm-up: module loading and JIT are not part of any figure
    await timedRun(SCENARIOS[0], providerClient);
    for (const scenario of SCENARIOS) {
      progress(`routeros: ${scenario.name}`);
      const p: Run[] = [];
      const b: Run[] = [];
      for (let i = 0; i < opts.repeats; i++) p.push(await timedRun(scenario, providerClient));
      for (let i = 0; i < Math.min(opts.repeats, 3); i++) b.push(await timedRun(scenario, baselineClient));
      const P = summarise(p);
      const B = summarise(b);
      const lb = P.lowerBound;
      rows.push(runRow(scenario.name, "provider", P));
      rows.push(runRow("", "one at a time", B));
      rows.push([
        "",
        "baseline / provider",
        round(B.ms / P.ms, 1),
        round(B.waves / P.waves, 1),
        ...Array<null>(6).fill(null),
      ]);
      verdicts.push(
        `${scenario.name}: ${P.waves} round trips vs lower bound ${lb} = ${round(P.waves / lb, 2)}x ` +
          `${P.waves <= 2 * lb ? "(target <= 2x: met)" : "(target <= 2x: MISSED)"}`,
      );
      data[scenario.name] = { provider: p, baseline: b };
    }
  });
  return {
    id: "routeros",
    title: `1. RouterOS control plane (simulator RouterOS ${VERSION}, ${LATENCY_MS} ms per round trip; median of ${opts.repeats}, baseline of ${Math.min(opts.repeats, 3)})`,
    columns: [
      "operation",
      "client",
      "wall ms",
      "round trips",
      "wall/20ms",
      "commands",
      "writes",
      "lower bound",
      "ratio",
      "converged",
    ],
    rows,
    notes: [
      "round trips = sequential waits on the critical path, counted from the simulator's log (arrival gaps > 10 ms); commands/writes as the router counted them.",
      "lower bound = 1 login + 1 read (version check and all prints pipelined) + D write rounds the router forces (D = 2 when entries name a routing table or interface list created in the same operation, else 1; 0 without writes) + 1 verify read when anything was written. ratio = round trips / lower bound.",
      "TCP connect is free in the simulator (latency is injected on replies): on a real link add 1 round trip (+1 for TLS) to every row and to the bound.",
      ...verdicts,
    ],
    data,
  };
}
