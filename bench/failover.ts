/**
 * Benchmark 4: failover on the Linux lab with the default check settings (interval 300ms, timeout 300ms,
 * failAfter 3, recoverAfter 10): ISP 1 fails beyond its router (`failUpstream(1)`: the uplink and its first
 * hop stay up, everything beyond is blackholed), then comes back. Per trial:
 * - prober detection: until the prober records link1 down (its state file);
 * - new connections moved: until every new connection from 8 LAN clients succeeds through link 2 (probed
 *   every 100 ms, 300 ms connect timeout);
 * - recovery: after the upstream is restored, until a new connection uses link 1 again.
 * Median of N trials (target: new connections moved within 3 s), for comparison with RouterOS
 * check-gateway and mwan3's defaults (reference numbers, sources in the notes).
 */
import type { SpecInput } from "../provider/spec/schema";
import { seedNthSticky } from "../test/fixtures/specs";
import { packetPathOn, seedRouter, targetOf, up } from "../test/routeros/support";
import type { Lab } from "../labs/linux-lab";
import { createLab } from "../labs/linux-lab";
import { ProbeWorld } from "../labs/routeros-sim/packet-path";
import type { Section } from "./lib";
import { median, progress, round, sleep } from "./lib";
import { backendFor, labSpec, removeOwnerFiles, silentLog } from "./lab";

interface Trial {
  detectMs: number;
  movedMs: number;
  recoverMs: number;
}

async function waitFor(ok: () => Promise<boolean>, limitMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    if (await ok()) return Date.now() - start;
    await sleep(100);
  }
  throw new Error(`failover: timed out after ${limitMs} ms waiting for ${what}`);
}

async function trials(
  lab: Lab,
  owner: string,
  over: Partial<SpecInput>,
  n: number,
  label: string,
): Promise<Trial[]> {
  const b = await backendFor(labSpec(lab, owner, over, 2));
  await b.apply(silentLog);
  const [up1, up2] = lab.addresses.uplinks.map((u) => u.address);
  const state = async () => (await lab.exec("gw", ["cat", `/run/lbgw/${owner}/state`])).stdout;
  const probe = () =>
    lab.connectMany(
      lab.addresses.clients.slice(0, 8).map((from) => ({ from, count: 1 })),
      { allowErrors: true, timeoutMs: 300 },
    );
  await waitFor(async () => /^link1 1$/m.test(await state()), 20_000, "link1 up");
  await sleep(1500); // a random phase of the probe loop
  const out: Trial[] = [];
  for (let i = 0; i < n; i++) {
    progress(`failover (${label}): trial ${i + 1}/${n}`);
    await lab.exec("gw", ["conntrack", "-F"]);
    await lab.failUpstream(1);
    const t0 = Date.now();
    let detectMs = NaN;
    let movedMs: number;
    try {
      movedMs = await waitFor(
        async () => {
          if (Number.isNaN(detectMs) && /^link1 0$/m.test(await state())) detectMs = Date.now() - t0;
          const r = await probe();
          return r.every((c) => !c.error && c.seenAs === up2);
        },
        30_000,
        "new connections on link 2",
      );
      if (Number.isNaN(detectMs))
        detectMs = await waitFor(async () => /^link1 0$/m.test(await state()), 30_000, "link1 down").then(
          (ms) => ms + movedMs,
        );
    } finally {
      await lab.restoreUpstream(1);
    }
    const t1 = Date.now();
    const recoverMs = await waitFor(
      async () => (await probe()).some((c) => c.seenAs === up1),
      30_000,
      "a new connection on link 1",
    );
    void (Date.now() - t1);
    out.push({ detectMs, movedMs, recoverMs });
    await sleep(700 + Math.floor(Math.random() * 1000));
  }
  await b.destroy(silentLog);
  return out;
}

/**
 * RouterOS: the provider applies the default check to the simulator; its netwatch probes and scripts run
 * on the packet-path evaluator's modelled clock. wlan1's target stops answering (its ISP's router still
 * does) at a random phase of the probe loop; moved: until wlan1's table (where its new connections go)
 * leaves by wlan2; recovered: after the target answers again, until it leaves by wlan1 again. 10 ms steps.
 */
async function routerOsTrials(
  version: string,
  n: number,
): Promise<Array<{ movedMs: number; recoverMs: number }>> {
  const sim = await seedRouter(version);
  try {
    const log = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await up(seedNthSticky({ target: targetOf(sim), sticky: false }));
    } finally {
      process.stderr.write = log;
    }
    const world = new ProbeWorld();
    const path = packetPathOn(sim, world);
    const via = () => path.lookup("203.0.113.80", { routingMark: "lbgw-gw-wlan1" }).outInterface;
    const until = (ok: () => boolean): number => {
      let t = 0;
      for (; !ok(); t += 10) {
        if (t > 120_000) throw new Error(`RouterOS ${version}: no failover within 120 s`);
        path.advance(10);
      }
      return t;
    };
    path.advance(5_000);
    const out: Array<{ movedMs: number; recoverMs: number }> = [];
    for (let i = 0; i < n; i++) {
      path.advance(Math.floor(Math.random() * 1000));
      world.kill("198.51.100.1", "10.112.0.1"); // unreachable through wlan1's ISP only
      const movedMs = until(() => via() === "wlan2");
      path.advance(2_000);
      world.revive("198.51.100.1", "10.112.0.1");
      const recoverMs = until(() => via() === "wlan1");
      out.push({ movedMs, recoverMs });
    }
    return out;
  } finally {
    await sim.close();
  }
}

function describeCheck(c: {
  interval?: string;
  timeout?: string;
  failAfter?: number;
  recoverAfter?: number;
}): string {
  return `interval ${c.interval}, timeout ${c.timeout}, failAfter ${c.failAfter}, recoverAfter ${c.recoverAfter}`;
}

export async function benchFailover(opts: { trials: number }): Promise<Section> {
  const lab = await createLab({ uplinks: 2, clients: 8, label: "bench/failover" });
  const owner = `bf${lab.id}`;
  try {
    await lab.startServer();
    const defaults = await trials(lab, owner, {}, opts.trials, "defaults");
    const row = (name: string, t: Trial[]) => {
      const moved = median(t.map((x) => x.movedMs)) / 1000;
      return [
        name,
        t.length,
        round(median(t.map((x) => x.detectMs)) / 1000, 2),
        round(moved, 2),
        round(median(t.map((x) => x.recoverMs)) / 1000, 2),
        `${round(Math.min(...t.map((x) => x.movedMs)) / 1000, 1)}..${round(Math.max(...t.map((x) => x.movedMs)) / 1000, 1)}`,
        moved <= 3 ? "met" : "MISSED",
      ];
    };
    const movedDefault = median(defaults.map((x) => x.movedMs)) / 1000;
    progress("failover (RouterOS, simulator): trials");
    const routeros = await routerOsTrials("7.16.2", Math.max(opts.trials, 5));
    const routerosV6 = await routerOsTrials("6.49.10", Math.max(opts.trials, 5));
    const rosRow = (name: string, t: Array<{ movedMs: number; recoverMs: number }>) => {
      const moved = median(t.map((x) => x.movedMs)) / 1000;
      return [
        name,
        t.length,
        null,
        round(moved, 2),
        round(median(t.map((x) => x.recoverMs)) / 1000, 2),
        `${round(Math.min(...t.map((x) => x.movedMs)) / 1000, 1)}..${round(Math.max(...t.map((x) => x.movedMs)) / 1000, 1)}`,
        moved <= 3 ? "met" : "MISSED",
      ];
    };
    return {
      id: "failover",
      title: "4. Failover: upstream failure beyond ISP 1's router (Linux lab, median of trials)",
      columns: [
        "settings",
        "trials",
        "prober down s",
        "new conns moved s",
        "recovered s",
        "moved range s",
        "target <= 3 s",
      ],
      rows: [
        row(`defaults (${describeCheck(labSpec(lab, owner, {}, 2).links[0].check)})`, defaults),
        rosRow("RouterOS 7 netwatch, defaults (simulator, modelled time)", routeros),
        rosRow("RouterOS 6 netwatch, defaults (simulator; failAfter/recoverAfter act as 1)", routerosV6),
        ["reference: RouterOS check-gateway=ping", null, 20, 20, null, "10 s x 2 misses", null],
        ["reference: mwan3 built-in defaults", null, 50, 50, null, "10 s x down 5 (+timeout 4)", null],
        ["reference: mwan3 shipped /etc/config/mwan3", null, 15, 15, null, "5 s x down 3 (+timeout 2)", null],
      ],
      notes: [
        `defaults: new connections moved after a median ${round(movedDefault, 2)} s: ${movedDefault <= 3 ? "target met" : "target MISSED"}.`,
        ...(movedDefault <= 3
          ? []
          : [
              "why: a failing round lasts check.timeout + check.interval and a link is down after failAfter of them; a machine too busy to run the prober on time stretches rounds.",
            ]),
        "RouterOS check-gateway: probes every 10 s, a gateway is down after 2 failed probes (~20 s; MikroTik RouterOS manual, IP Routing, check-gateway; repo notes shared/notes/routeros.md).",
        "mwan3: mwan3track's built-in defaults interval 10 s, down 5, timeout 4 (openwrt/packages net/mwan3/files/usr/sbin/mwan3track, config_get ... interval 10 / down 5): ~50 s; the sample /etc/config/mwan3 it ships sets interval 5, down 3, timeout 2: ~15 s.",
        "recovery: recoverAfter good rounds (a good round lasts about one interval), then new connections use link 1 again.",
        "RouterOS rows: the provider's netwatch probes and scripts on the RouterOS simulator, timed on the packet-path evaluator's modelled clock (a netwatch test starts `interval` after the previous one ended; an unanswered one ends after `timeout`), not on a router.",
      ],
      data: { defaults, routeros, routerosV6 },
    };
  } finally {
    await lab.destroy();
    removeOwnerFiles(owner);
  }
}
