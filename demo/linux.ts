/**
 * Linux variant (root): a real gateway in network namespaces (labs/linux-lab: a LAN with 8
 * clients, the gateway with sshd, two ISPs that do not NAT, an "internet" with a server), `pulumi up` of
 * examples/linux-weighted-failover against the gateway over SSH, then real TCP connections from the LAN
 * clients; the server sees the uplink address, which tells the uplink that carried each connection.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { LIB_DIR, RUN_DIR } from "../provider/linux/ids";
import { createLab, ensureLabDeps, type Lab } from "../labs/linux-lab";
import type { DemoContext, Verdict, VariantResult } from "./context";
import { REPO } from "./pulumi";
import { trafficVerdicts } from "./report";
import { computeFigures, printFigures, runTraffic, type ConnOutcome, type TrafficDriver } from "./traffic";
import { holdConnections, showStatus } from "./status";
import { green, note, ok, phase, red, sleep, warn } from "./ui";

const EXAMPLE = path.join(REPO, "examples/linux-weighted-failover");
const CLIENTS = 8;
/** The example's weights (examples/linux-weighted-failover/gateway.ts): link1 3, link2 1. */
const WEIGHTS = [3, 1];
/** The on-box prober's files (provider/linux/prober.ts; the example's resource "gw" is their owner). */
const PROBER_LIB = `${LIB_DIR}/gw`;
const PROBER_RUN = `${RUN_DIR}/gw`;
const PROBER_LOG = `${PROBER_RUN}/log`;

/** The prober's files on the gateway (the lab gives each gateway its own, see linux-lab's ssh-setup.ts). */
async function proberDirsLeft(lab: Lab): Promise<string[]> {
  const r = await lab.exec("gw", ["ls", "-d", PROBER_LIB, PROBER_RUN]);
  return r.stdout.split("\n").filter(Boolean);
}

async function proberLog(lab: Lab): Promise<string> {
  return (await lab.exec("gw", ["tail", "-n", "20", PROBER_LOG])).stdout;
}

/** What differs between two snapshots of the gateway, by part. */
function snapshotDiff(a: Record<string, string>, b: Record<string, string>): string[] {
  return Object.keys(a).filter((k) => a[k] !== b[k]);
}

async function gatewayState(lab: Lab): Promise<string[]> {
  const [nft, rules] = await Promise.all([
    lab.exec("gw", ["nft", "list", "ruleset"], { check: true }),
    lab.exec("gw", ["ip", "rule", "show"], { check: true }),
  ]);
  const tables = [...nft.stdout.matchAll(/^table (\S+ \S+)/gm)].map((m) => m[1]);
  const ruleCount = nft.stdout
    .split("\n")
    .filter((l) => /^\t\t\S/.test(l) && !/^\t\t(type|policy) /.test(l)).length;
  const snap = await lab.snapshot();
  return [
    `nftables: ${tables.join(", ") || "(none)"}, ${ruleCount} lines of chains/maps/sets`,
    `ip rules: ${rules.stdout.trim().split("\n").length} (${rules.stdout.trim().split("\n").length - 3} added to the 3 defaults)`,
    `on-box prober: ${snap.processes.split("\n").filter((l) => l.includes("prober")).length ? "running" : "NOT running"}` +
      (snap.processes ? ` (${snap.processes.split("\n")[0].slice(0, 90)})` : ""),
  ];
}

export async function runLinux(ctx: DemoContext): Promise<VariantResult> {
  const timings: Record<string, number> = {};
  const verdicts: Verdict[] = [];

  phase("Build the namespace lab");
  await ensureLabDeps();
  let t = Date.now();
  const lab = await createLab({ uplinks: 2, clients: CLIENTS, label: "demo (npm run demo)" });
  const untrackLab = ctx.cleanup.add(`remove the lab ${lab.name} (namespaces, sshd, agents)`, () =>
    lab.destroy(),
  );
  timings.labCreateMs = Date.now() - t;
  const a = lab.addresses;
  ok(`lab ${lab.name} built in ${(timings.labCreateMs / 1000).toFixed(1)} s`);
  note(
    [
      `gateway ${lab.ns.gw}: sshd on ${lab.ssh.host}:${lab.ssh.port} (management /30, the only way in from here)`,
      `LAN ${a.lanNet} on ${a.lanIface}: ${a.clients.length} clients ${a.clients[0]} … ${a.clients[a.clients.length - 1]}`,
      ...a.uplinks.map(
        (u) =>
          `uplink ${u.index}: ${u.iface} ${u.address}/${u.prefixLen} → ISP ${u.index} (${u.gateway}, no NAT) → inet; probe target ${u.probeTarget}`,
      ),
      `server ${a.server}:${a.serverPort} in inet: it sees the uplink address, so it tells which uplink carried a connection`,
    ].join("\n"),
  );
  note(`the gateway's own ${LIB_DIR} and ${RUN_DIR}: private to it (tmpfs in its mount namespace)`);
  const before = await lab.snapshot();

  phase("pulumi up: examples/linux-weighted-failover");
  const stack = await ctx.engine.stack(EXAMPLE, ctx.cleanup);
  ok(`stack ${stack.name} in a private file:// backend`);
  const [u1, u2] = a.uplinks;
  await stack.configure(
    {
      gatewayHost: lab.ssh.host,
      gatewayPort: lab.ssh.port,
      gatewayUser: lab.ssh.username,
      gatewayHostKey: lab.ssh.hostKey,
      lanInterface: a.lanIface,
      lanNetwork: a.lanNet,
      link1Interface: u1.iface,
      link1Gateway: u1.gateway,
      link1ProbeTarget: u1.probeTarget,
      link2Interface: u2.iface,
      link2Gateway: u2.gateway,
      link2ProbeTarget: u2.probeTarget,
      sticky: ctx.opts.sticky,
    },
    { privateKey: lab.ssh.privateKey },
  );
  t = Date.now();
  await stack.up();
  timings.pulumiUpMs = Date.now() - t;
  const outputs = await stack.outputs();
  ok(`pulumi up done in ${(timings.pulumiUpMs / 1000).toFixed(1)} s: device ${String(outputs.device)}`);
  const state = await gatewayState(lab);
  for (const l of state) note(l);
  verdicts.push({
    what: "pulumi up configured the gateway",
    ok: state.some((l) => l.includes("prober: running")) && Number(outputs.ownedEntries) > 0,
    detail: `${String(outputs.ownedEntries)} owned entries; ${state[2].split(" (")[0]}`,
  });

  await lab.startServer();
  // Long-lived connections (one per client, kept open to the end), so that \`lbgw status\` has open
  // connections to count: each round's connections are short and closed before the status is read.
  const held = await holdConnections(lab, a.clients);
  note(`${held} connections held open through the gateway for the whole run (one per client)`);
  const driver: TrafficDriver = {
    uplinks: a.uplinks.map((u, i) => ({
      name: `link${u.index}`,
      detail: `${u.iface} ${u.address} via ${u.gateway}`,
      address: u.address,
      weight: WEIGHTS[i],
    })),
    clients: a.clients,
    connectionsPerClient: 4,
    periodMs: 250,
    clockLabel: "s",
    patienceMs: 15_000,
    now: () => performance.now(),
    async waitUntil(tMs) {
      const wait = tMs - performance.now();
      if (wait > 0) await sleep(wait);
    },
    async round() {
      const res = await lab.connectMany(
        a.clients.map((from) => ({ from, count: this.connectionsPerClient })),
        // each client's connections one after the other (a a a a b b b b ...), all in flight at once
        { allowErrors: true, timeoutMs: 700, concurrency: 64, interleave: false },
      );
      return res.map((r): ConnOutcome => ({
        from: r.from,
        uplink: r.error ? -1 : a.uplinks.findIndex((u) => u.address === r.seenAs),
      }));
    },
    failUpstream: (k) => lab.failUpstream(k),
    restoreUpstream: (k) => lab.restoreUpstream(k),
    status: (when) => showStatus(stack, when),
    async afterFailure(k) {
      const u = a.uplinks[k - 1];
      const [firstHop, beyond] = await Promise.all([
        lab.ping("gw", u.gateway, { timeoutMs: 500 }),
        lab.ping(`isp${k}`, u.probeTarget, { timeoutMs: 500 }),
      ]);
      return [
        `gateway → ISP ${k}'s router ${u.gateway}: ${firstHop ? green("answers") : red("silent")} (link and first hop are fine)`,
        `ISP ${k}'s router → ${u.probeTarget}: ${beyond ? green("answers") : red("silent")} (beyond the first hop nothing gets through)`,
      ];
    },
  };

  driver.afterFailover = driver.afterRecovery = async (k) => {
    const log = await proberLog(lab);
    const name = `link${k}`;
    const last = log
      .split("\n")
      .filter((l) => l.includes(`link ${name} `))
      .pop();
    return last ? [`the gateway's prober logged: ${last.trim()}  (${PROBER_LOG})`] : [];
  };

  t = Date.now();
  const run = await runTraffic(driver, {
    healthyRounds: 12,
    afterFailoverRounds: 10,
    afterRecoveryRounds: 12,
    failUplink: 0,
    interrupted: ctx.interrupted,
    noRecoveryBecause: ctx.opts.sticky
      ? "sticky: the prober dropped the failed link's sticky entries, so its users were re-balanced onto the\n" +
        "live link and stick to it until they have sent nothing for the sticky timeout (1d in the example)"
      : undefined,
  });
  timings.trafficMs = Date.now() - t;

  phase("Results");
  const figures = computeFigures(driver, run);
  printFigures(driver, figures, ctx.opts.sticky);
  note(
    "detection = first round after the failure in which every connection succeeded and none used the failed\n" +
      `uplink; its resolution is one round (${driver.periodMs} ms, longer while connections time out)`,
  );
  verdicts.push(...trafficVerdicts(figures, ctx.opts.sticky));

  return {
    variant: "linux",
    target: `Linux gateway ${lab.ns.gw} (network namespaces) over SSH`,
    example: "examples/linux-weighted-failover",
    driver,
    run,
    figures,
    verdicts,
    facts: { lab: lab.name, stack: stack.name, ownedEntries: outputs.ownedEntries, device: outputs.device },
    timings,
    finish: async () => {
      phase("pulumi destroy");
      t = Date.now();
      await stack.destroy();
      timings.pulumiDestroyMs = Date.now() - t;
      const after = await lab.snapshot();
      const diff = snapshotDiff(
        before as unknown as Record<string, string>,
        after as unknown as Record<string, string>,
      );
      (diff.length ? warn : ok)(
        diff.length
          ? `the gateway differs from before pulumi up in: ${diff.join(", ")}`
          : "the gateway is exactly as before pulumi up (nftables, ip rules, routes, sysctls, processes)",
      );
      const filesLeft = await proberDirsLeft(lab);
      verdicts.push(
        {
          what: "destroy restored the gateway",
          ok: diff.length === 0,
          detail: diff.length ? `differs in ${diff.join(", ")}` : "identical snapshot",
        },
        {
          what: "destroy removed the prober's files",
          ok: filesLeft.length === 0,
          detail: filesLeft.length ? `left: ${filesLeft.join(", ")}` : `${PROBER_LIB} and ${PROBER_RUN} gone`,
        },
      );
      await stack.remove();
      stack.untrack();

      phase("Remove the lab");
      t = Date.now();
      await lab.destroy();
      untrackLab();
      timings.labDestroyMs = Date.now() - t;
      const leftover = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.startsWith(`${lab.name}-`));
      (leftover.length ? warn : ok)(
        `lab removed in ${(timings.labDestroyMs / 1000).toFixed(1)} s; its namespaces left: ${leftover.length}`,
      );
      verdicts.push({
        what: "lab removed",
        ok: leftover.length === 0,
        detail: `${leftover.length} namespaces left`,
      });
    },
  };
}
