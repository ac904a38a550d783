/**
 * RouterOS variant (no root needed): the RouterOS API simulator (7.x) with the seeds' interfaces and
 * addresses plus an operator's own entries, `pulumi up` of examples/routeros-nth-sticky against it, then
 * traffic through the packet-path evaluator over exactly what the simulator holds: a model of RouterOS's
 * data plane (mangle, NAT, routing, netwatch and its scripts), not a kernel. Time is the evaluator's simulated clock.
 */
import * as path from "node:path";
import { menusOf, packetPathOn, seedRouter } from "../test/routeros/support";
import type { RouterOsSim } from "../labs/routeros-sim";
import { showDataPlane } from "../labs/routeros-sim/data-plane";
import { ProbeWorld } from "../labs/routeros-sim/packet-path";
import type { DemoContext, Verdict, VariantResult } from "./context";
import { REPO } from "./pulumi";
import { trafficVerdicts } from "./report";
import { showStatus } from "./status";
import { computeFigures, printFigures, runTraffic, type ConnOutcome, type TrafficDriver } from "./traffic";
import { note, ok, phase, printTable, sleep, step, warn } from "./ui";

const VERSION = "7.16.2";
const EXAMPLE = path.join(REPO, "examples/routeros-nth-sticky");
const SERVER = "203.0.113.80";
const CLIENTS = Array.from({ length: 8 }, (_, i) => `192.168.0.${10 + i}`);
/** The example's links (examples/routeros-nth-sticky/index.ts) on the seeded router. */
const LINKS = [
  { name: "wlan1", iface: "wlan1", address: "10.112.0.2", gateway: "10.112.0.1", target: "198.51.100.1" },
  { name: "wlan2", iface: "wlan2", address: "10.111.0.2", gateway: "10.111.0.1", target: "198.51.100.2" },
];
const WLAN1_WEIGHT = 3;
const isOwned = (e: Record<string, string>) => (e.comment ?? "").startsWith("lbgw:");
const count = (sim: RouterOsSim, pred: (e: Record<string, string>) => boolean) =>
  menusOf(sim).reduce((n, m) => n + sim.entries(m).filter(pred).length, 0);
/** The operator's own entries (seeded): the provider must leave them as they are. */
const foreignText = (sim: RouterOsSim) =>
  JSON.stringify(menusOf(sim).map((m) => sim.entries(m).filter((e) => !isOwned(e) && e.dynamic !== "true")));

export const ROUTEROS_PHASES = 9;

export async function runRouterOs(ctx: DemoContext): Promise<VariantResult> {
  const timings: Record<string, number> = {};
  const verdicts: Verdict[] = [];

  phase(`RouterOS simulator (${VERSION})`);
  let t = Date.now();
  const sim = await seedRouter(VERSION);
  const untrackSim = ctx.cleanup.add("stop the RouterOS simulator", () => sim.close());
  timings.simulatorStartMs = Date.now() - t;
  ok(`RouterOS API simulator ${sim.version.text} listening on ${sim.host}:${sim.port} (user admin)`);
  note(
    "a TCP server speaking the RouterOS API protocol, enforcing the router's rules; interfaces " +
      sim
        .entries("/interface")
        .map((e) => e.name)
        .join(", ") +
      "\nseeded: " +
      sim
        .entries("/ip/address")
        .map((e) => `${e.address} on ${e.interface}`)
        .join(", ") +
      `\nplus the operator's own mangle/NAT/route entries (${count(sim, (e) => !isOwned(e) && e.dynamic !== "true")}), which the provider must leave alone`,
  );
  const foreignBefore = foreignText(sim);

  phase("pulumi up: examples/routeros-nth-sticky");
  const stack = await ctx.engine.stack(EXAMPLE, ctx.cleanup);
  ok(`stack ${stack.name} in a private file:// backend`);
  await stack.configure(
    {
      routerHost: sim.host,
      routerPort: sim.port,
      routerUser: "admin",
      rosVersion: sim.version.major,
      wlan1Weight: WLAN1_WEIGHT,
    },
    { routerPassword: "s3cret" },
  );
  t = Date.now();
  await stack.up();
  timings.pulumiUpMs = Date.now() - t;
  const outputs = await stack.outputs();
  const owned = count(sim, isOwned);
  ok(`pulumi up done in ${(timings.pulumiUpMs / 1000).toFixed(1)} s: device ${String(outputs.device)}`);
  printTable(
    ["menu", "entries owned by the resource"],
    menusOf(sim).map((m) => [m, String(sim.entries(m).filter(isOwned).length)]),
  );
  verdicts.push({
    what: "pulumi up configured the router",
    ok: owned > 0 && owned === Number(outputs.ownedEntries),
    detail: `${owned} owned entries (stack output ownedEntries=${String(outputs.ownedEntries)})`,
  });

  const intro =
    "RouterOS variant: there is no router kernel here. Each connection's first packet goes through the\n" +
    "packet-path evaluator, which reads the tables the simulator now holds (mangle, NAT, address lists,\n" +
    "routes, routing tables) and applies RouterOS's packet flow: nth and sticky lists, routing marks,\n" +
    "netwatch probes whose scripts disable a link's routes (check: 300 ms rounds, down after 3 misses).\n" +
    "Time below is the evaluator's simulated clock; an upstream failure is a probe target that stops\n" +
    "answering; a connection routed into the dead upstream counts as lost.";
  const world = new ProbeWorld();
  const pp = packetPathOn(sim, world);
  // The router's connection table and sticky lists as `lbgw status` reads them: the evaluator's, with
  // the connections of the latest round open (the earlier rounds' short connections have ended).
  const current = new Set<number>();
  const hideDataPlane = showDataPlane(sim, pp, { open: (f) => current.has(f.id) });
  let dead: number | undefined;
  let srcPort = 40000;
  const driver: TrafficDriver = {
    uplinks: LINKS.map((l, i) => ({
      name: l.name,
      detail: `${l.iface} ${l.address} via ${l.gateway}`,
      address: l.address,
      weight: i === 0 ? WLAN1_WEIGHT : 1,
    })),
    clients: CLIENTS,
    connectionsPerClient: 4,
    periodMs: 1000,
    clockLabel: "s (simulated)",
    patienceMs: 60_000,
    now: () => pp.now(),
    async waitUntil(tMs) {
      const wait = tMs - pp.now();
      if (wait > 0) pp.advance(wait);
      await sleep(70); // simulated seconds pass quickly, but watchably
    },
    async round() {
      const out: ConnOutcome[] = [];
      current.clear();
      for (let j = 0; j < this.connectionsPerClient; j++)
        for (const from of CLIENTS) {
          srcPort = srcPort >= 65000 ? 40000 : srcPort + 1;
          const f = pp.open({
            inInterface: "Local",
            src: from,
            dst: SERVER,
            protocol: "tcp",
            srcPort,
            dstPort: 443,
          });
          current.add(f.id);
          const k = LINKS.findIndex((l) => l.iface === f.first.outInterface);
          // lost: dropped, routed into the dead upstream, or leaving with a source the ISP does not route back
          const lost = k < 0 || k === dead || f.first.wire.src !== LINKS[k].address;
          out.push({ from, uplink: lost ? -1 : k });
        }
      return out;
    },
    status: (when) => showStatus(stack, when),
    async failUpstream(k) {
      world.kill(LINKS[k - 1].target);
      dead = k - 1;
    },
    async restoreUpstream(k) {
      world.revive(LINKS[k - 1].target);
      dead = undefined;
    },
    async afterFailure(k) {
      const l = LINKS[k - 1];
      const route = pp.routes().find((r) => r.dst === `${l.target}/32` || r.dst === l.target);
      return [
        `${l.gateway} (first hop) is still reachable on ${l.iface}; ${l.target} beyond it no longer answers pings`,
        route
          ? `route to the probe target ${route.dst} via ${route.gateways.join(",") || "-"}: active=${route.active} (netwatch pings ${l.target} through it)`
          : `netwatch pings ${l.target} through ${l.gateway}`,
      ];
    },
  };

  // the router's view: the default routes of the failed link's routing table (netwatch disables its own)
  driver.afterFailover = driver.afterRecovery = async (k) => {
    const l = LINKS[k - 1];
    const byId = new Map(sim.entries("/ip/route").map((e) => [e[".id"], e]));
    const routes = pp.routes().filter((r) => r.dst === "0.0.0.0/0" && r.table.endsWith(`-${l.name}`));
    if (!routes.length) return [];
    const text = routes.map((r) => {
      const e = byId.get(r.key);
      return `via ${e?.gateway ?? "?"} (distance ${e?.distance ?? "?"}) ${r.active ? "active" : "inactive"}`;
    });
    return [
      `the router's table ${routes[0].table}: default ${text.join("; ")} (the lowest active distance is used)`,
    ];
  };

  t = Date.now();
  const run = await runTraffic(driver, {
    healthyRounds: 12,
    afterFailoverRounds: 8,
    afterRecoveryRounds: 10,
    failUplink: 0,
    interrupted: ctx.interrupted,
    intro,
    noRecoveryBecause:
      "sticky: the failed link's netwatch script dropped its users from its sticky list, so they were\n" +
      "re-balanced onto the live link and stick to it until they have sent nothing for the sticky timeout\n" +
      "(1d in the example): one public address throughout. `lbgw status` above shows the link up again",
  });
  timings.trafficMs = Date.now() - t;

  // Its rows are views the API cannot remove: gone before destroy removes the sticky lists' users.
  hideDataPlane();
  phase("Results");
  const figures = computeFigures(driver, run);
  printFigures(driver, figures, true);
  note(
    "times are on the evaluator's simulated clock (netwatch: 300 ms rounds, 3 misses down, 10 good rounds up)",
  );
  verdicts.push(...trafficVerdicts(figures, true));
  const lists = pp.dynamicAddressList();
  step(
    `sticky lists on the router: ${lists.length} entries, ` +
      `${new Set(lists.map((e) => e.address)).size} distinct users (one list per user)`,
  );
  verdicts.push({
    what: "each user in one sticky list only",
    ok: new Set(lists.map((e) => e.address)).size === lists.length,
    detail: `${lists.length} entries`,
  });

  return {
    variant: "routeros",
    target: `RouterOS API simulator ${sim.version.text} + packet-path evaluator`,
    example: "examples/routeros-nth-sticky",
    driver,
    run,
    figures,
    verdicts,
    facts: { ownedEntries: owned, stack: stack.name },
    timings,
    finish: async () => {
      phase("pulumi destroy");
      t = Date.now();
      await stack.destroy();
      timings.pulumiDestroyMs = Date.now() - t;
      const left = count(sim, isOwned);
      const foreignKept = foreignText(sim) === foreignBefore;
      (left === 0 ? ok : warn)(`owned entries left on the router: ${left}`);
      (foreignKept ? ok : warn)(`the operator's own entries ${foreignKept ? "are untouched" : "CHANGED"}`);
      verdicts.push(
        { what: "destroy removed every owned entry", ok: left === 0, detail: `${left} left` },
        {
          what: "operator's entries untouched",
          ok: foreignKept,
          detail: foreignKept ? "identical" : "changed",
        },
      );
      await stack.remove();
      stack.untrack();
      phase("Stop the simulator");
      await sim.close();
      untrackSim();
      ok("simulator stopped");
    },
  };
}
