/**
 * Failover timing on RouterOS: the provider's netwatch probes and scripts, applied to the simulator, run on
 * the packet-path evaluator's modelled clock (netwatch tests every `interval` after the previous one ends,
 * an unanswered test ends after `timeout`; scripts enable/disable the owned routes on the simulator).
 * A link fails beyond its first hop: its ISP's router still answers, the probe target does not answer
 * through it (it still does through the other ISP, so a probe that leaked through another link would
 * keep the link up).
 */
import type { SpecInput } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { ProbeWorld, type PacketPath } from "../../labs/routeros-sim/packet-path";
import { read } from "../../provider/index";
import { packetPathOn, seedRouter, targetOf, up, upAgain, writesSince } from "./support";

const SERVER = "203.0.113.80";
const WLAN1_TARGET = "198.51.100.1";
/** wlan1's ISP router: a failure beyond it makes the targets unreachable through wlan1 only. */
const WLAN1_GW = "10.112.0.1";
const STEP = 50;

type Check = Record<string, unknown>;

const spec =
  (check: Check = {}, extraTargets: string[] = []) =>
  (t: SpecInput["target"]): SpecInput => {
    const s = seedNthSticky({ target: t, sticky: false });
    const links = s.links as Array<Record<string, unknown>>;
    links.forEach((l) => (l.check = { ...(l.check as Check), ...check }));
    (links[0].check as { targets: string[] }).targets.push(...extraTargets);
    return s;
  };

async function applied(version: string, s: (t: SpecInput["target"]) => SpecInput) {
  const sim = await seedRouter(version);
  await up(s(targetOf(sim)));
  const world = new ProbeWorld();
  const path = packetPathOn(sim, world);
  path.advance(5_000); // probes settle: every target answers
  return { sim, world, path };
}

/** Links of four new LAN connections (nth 1:1 gives each link two of them while both are up). */
function newConnections(path: PacketPath, round: number): string[] {
  return [0, 1, 2, 3].map(
    (i) =>
      path.open({
        inInterface: "Local",
        src: `192.168.0.${10 + i}`,
        dst: SERVER,
        srcPort: 20000 + round * 4 + i,
      }).first.outInterface,
  );
}

/** Modelled ms until `ok` holds for new connections, checked every STEP. */
function until(path: PacketPath, ok: (links: string[]) => boolean, limitMs = 60_000): number {
  for (let t = 0, round = 0; t <= limitMs; t += STEP, round++) {
    if (ok(newConnections(path, round))) return t;
    path.advance(STEP);
  }
  throw new Error(`not within ${limitMs} ms`);
}

/** Kill wlan1's target, time the move off wlan1; revive it, time the return. */
function failAndRecover(world: ProbeWorld, path: PacketPath): { movedMs: number; recoverMs: number } {
  world.kill(WLAN1_TARGET, WLAN1_GW);
  const movedMs = until(path, (links) => links.every((l) => l === "wlan2"));
  path.advance(2_000);
  world.revive(WLAN1_TARGET, WLAN1_GW);
  const recoverMs = until(path, (links) => links.includes("wlan1"));
  return { movedMs, recoverMs };
}

describe("RouterOS 7 failover honours links[].check (netwatch icmp probes, test-script counting)", () => {
  let sim: RouterOsSim | undefined;
  afterEach(async () => sim?.close());

  test("defaults (300ms/300ms, failAfter 3, recoverAfter 10): new connections leave within 3 s, return after 10 good rounds", async () => {
    const env = await applied("7.16.2", spec());
    sim = env.sim;
    expect(new Set(newConnections(env.path, 999))).toEqual(new Set(["wlan1", "wlan2"]));
    const { movedMs, recoverMs } = failAndRecover(env.world, env.path);
    // 3 failed rounds of timeout + interval (600 ms), after up to one interval of phase: 1.5-2.1 s
    expect(movedMs).toBeLessThanOrEqual(3_000);
    expect(movedMs).toBeGreaterThanOrEqual(2 * 600 + 300 - STEP);
    // 10 answered rounds, 300 ms apart (the first one up to a failing round late)
    expect(recoverMs).toBeGreaterThanOrEqual(9 * 300);
    expect(recoverMs).toBeLessThanOrEqual(10 * 300 + 600 + STEP);
  });

  test("a custom check (1s/500ms, failAfter 2, recoverAfter 3) sets both times", async () => {
    const env = await applied(
      "7.16.2",
      spec({ interval: "1s", timeout: "500ms", failAfter: 2, recoverAfter: 3 }),
    );
    sim = env.sim;
    const { movedMs, recoverMs } = failAndRecover(env.world, env.path);
    // 2 failed rounds of 1.5 s, after up to 1 s of phase
    expect(movedMs).toBeGreaterThanOrEqual(1_500 + 500 - STEP);
    expect(movedMs).toBeLessThanOrEqual(2 * 1_500 + 1_000 + STEP);
    expect(recoverMs).toBeGreaterThanOrEqual(2 * 1_000);
    expect(recoverMs).toBeLessThanOrEqual(3 * 1_000 + 1_500 + STEP);
  });

  test("a single lost probe moves nothing (failAfter counts consecutive failed rounds)", async () => {
    const env = await applied("7.16.2", spec());
    sim = env.sim;
    env.world.kill(WLAN1_TARGET, WLAN1_GW);
    env.path.advance(700); // one or two failed rounds, never three
    env.world.revive(WLAN1_TARGET, WLAN1_GW);
    for (let i = 0; i < 40; i++) {
      expect(newConnections(env.path, i)).toContain("wlan1");
      env.path.advance(STEP);
    }
  });

  test("a link with two targets keeps its traffic while one of them answers", async () => {
    const env = await applied("7.16.2", spec({}, ["198.51.100.11"]));
    sim = env.sim;
    env.world.kill(WLAN1_TARGET, WLAN1_GW);
    env.path.advance(10_000);
    expect(newConnections(env.path, 1)).toContain("wlan1");
    env.world.kill("198.51.100.11", WLAN1_GW);
    expect(until(env.path, (links) => links.every((l) => l === "wlan2"))).toBeLessThanOrEqual(3_000);
  });

  test("the owned routes' disabled state is the failover's: a refresh during an outage shows no drift", async () => {
    const env = await applied("7.16.2", spec());
    sim = env.sim;
    const before = await up(spec()(targetOf(env.sim)));
    env.world.kill(WLAN1_TARGET, WLAN1_GW);
    env.path.advance(5_000);
    const disabled = env.sim.entries("/ip/route").filter((r) => r.disabled === "true");
    expect(disabled.map((r) => r.comment).sort()).toEqual(
      ["lbgw:gw:route:main:wlan1:0", "lbgw:gw:route:wlan1:wlan1:0", "lbgw:gw:route:wlan2:wlan1:0"].sort(),
    );
    const again = await up(spec()(targetOf(env.sim)));
    expect(again.outs.rules).toEqual(before.outs.rules);
    expect(env.sim.entries("/ip/route").filter((r) => r.disabled === "true")).toHaveLength(3);
  });
});

describe.each(["6.49.10", "7.16.2"])("RouterOS %s: a pin that covers a probe target", (version) => {
  let sim: RouterOsSim | undefined;
  afterEach(async () => sim?.close());

  test("does not steer the probe: the probed link still fails over", async () => {
    // wlan1's target lies in a range pinned to wlan2: the router's connections there leave by wlan2
    const pinned = (t: SpecInput["target"]): SpecInput => ({
      ...spec()(t),
      pins: [{ destination: "198.51.100.0/24", link: "wlan2" }],
    });
    const env = await applied(version, pinned);
    sim = env.sim;
    const router = env.path.open({ inInterface: "router", dst: WLAN1_TARGET, protocol: "udp", dstPort: 53 });
    expect(router.first.outInterface).toBe("wlan2");
    // the probe of wlan1's target still goes through wlan1, so a failure beyond wlan1 takes wlan1 down
    const { movedMs } = failAndRecover(env.world, env.path);
    expect(movedMs).toBeLessThanOrEqual(3_000);
  });
});

describe("the oldest RouterOS 7 the failover supports", () => {
  test("a router older than MIN_ROUTEROS_7 is refused before any write, naming both versions", async () => {
    const sim = await seedRouter("7.8");
    try {
      await expect(up(spec()(targetOf(sim)))).rejects.toThrow(
        "RouterOS 7.8 (stable) on 127.0.0.1 is older than 7.11.3, the oldest RouterOS 7 this provider supports",
      );
      expect(sim.entries("/tool/netwatch")).toEqual([]);
      expect(sim.entries("/ip/route").filter((r) => (r.comment ?? "").startsWith("lbgw:"))).toEqual([]);
    } finally {
      await sim.close();
    }
  });
});

describe("RouterOS 6 failover (netwatch up/down scripts: one probe decides)", () => {
  let sim: RouterOsSim | undefined;
  afterEach(async () => sim?.close());

  test("defaults: new connections leave within 3 s and return after the first answered probe", async () => {
    const env = await applied("6.49.10", spec());
    sim = env.sim;
    const { movedMs, recoverMs } = failAndRecover(env.world, env.path);
    // one unanswered probe: timeout (300 ms) after up to one interval of phase
    expect(movedMs).toBeLessThanOrEqual(300 + 600 + STEP);
    expect(recoverMs).toBeLessThanOrEqual(600 + STEP);
  });

  test("check() says what RouterOS 6 approximates", async () => {
    const { check } = await import("../../provider/index");
    const sim6 = await seedRouter("6.49.10");
    sim = sim6;
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (
      lines.push(String(chunk)),
      true
    )) as typeof process.stderr.write;
    try {
      const r = await check({}, spec()(targetOf(sim6)) as unknown as Record<string, unknown>);
      expect(r.failures).toEqual([]);
    } finally {
      process.stderr.write = write;
    }
    expect(lines.join("")).toContain(
      "links[0].check: RouterOS 6 cannot count rounds (its netwatch has no per-test script), so failAfter 3 and recoverAfter 10 act as 1",
    );
  });
});

describe("RouterOS 7: one target probed through two links (netwatch src-address, a probe table per link)", () => {
  let sim: RouterOsSim | undefined;
  afterEach(async () => sim?.close());

  const SHARED = "1.1.1.1";
  const sharedSpec = (t: SpecInput["target"]): SpecInput => {
    const s = spec()(t);
    for (const l of s.links as Array<{ check: { targets: string[] } }>) l.check.targets = [SHARED];
    return s;
  };

  test("each link fails over alone when the shared target stops answering through it", async () => {
    const env = await applied("7.16.2", sharedSpec);
    sim = env.sim;
    // each link's probe leaves from its own address, through its own gateway
    expect(env.sim.entries("/tool/netwatch").map((e) => [e.comment, e["src-address"]])).toEqual([
      ["lbgw:gw:watch:wlan1:0", "10.112.0.2"],
      ["lbgw:gw:watch:wlan2:0", "10.111.0.2"],
    ]);
    // the target stops answering through wlan1 only (wlan1's ISP loses its upstream)
    env.world.kill(SHARED, "10.112.0.1");
    const movedMs = until(env.path, (links) => links.every((l) => l === "wlan2"));
    expect(movedMs).toBeLessThanOrEqual(3_000);
    const disabled = () =>
      env.sim
        .entries("/ip/route")
        .filter((r) => r.disabled === "true")
        .map((r) => r.comment)
        .sort();
    expect(disabled()).toEqual(
      ["lbgw:gw:route:main:wlan1:0", "lbgw:gw:route:wlan1:wlan1:0", "lbgw:gw:route:wlan2:wlan1:0"].sort(),
    );
    env.world.revive(SHARED, "10.112.0.1");
    until(env.path, (links) => links.includes("wlan1"));
    // now through wlan2 only: only wlan2's routes go
    env.world.kill(SHARED, "10.111.0.1");
    until(env.path, (links) => links.every((l) => l === "wlan1"));
    expect(disabled()).toEqual(
      ["lbgw:gw:route:main:wlan2:0", "lbgw:gw:route:wlan1:wlan2:0", "lbgw:gw:route:wlan2:wlan2:0"].sort(),
    );
    // LAN connections to the shared target itself keep their link's table and its fallback
    const toTarget = env.path.open({ inInterface: "Local", src: "192.168.0.10", dst: SHARED, dstPort: 53 });
    expect(toTarget.first.outInterface).toBe("wlan1");
  });

  test("the rule lines name the interfaces' addresses: an unchanged program is no change, a new address is drift", async () => {
    sim = await seedRouter("7.16.2");
    const s = sim;
    const first = await up(sharedSpec(targetOf(s)));
    const lines = Object.values(first.outs.rules as Record<string, string>).filter((l) =>
      l.includes("src-address="),
    );
    expect(lines).toEqual([
      expect.stringContaining('/routing rule add src-address="<address of wlan1>/32" dst-address=1.1.1.1/32'),
      expect.stringContaining('/routing rule add src-address="<address of wlan2>/32" dst-address=1.1.1.1/32'),
      expect.stringContaining('src-address="<address of wlan1>"'),
      expect.stringContaining('src-address="<address of wlan2>"'),
    ]);
    expect((await upAgain(first.id, first.outs, sharedSpec(targetOf(s)))).changed).toBe(false);
    // wlan1's address changes (a new DHCP lease): refresh shows the probe's old source, up writes the new one
    const a = s.entries("/ip/address").find((e) => e.interface === "wlan1");
    s.edit.set("/ip/address", a?.[".id"] as string, { address: "10.112.0.7/24" });
    const refreshed = await read(first.id, first.outs);
    expect(JSON.stringify(refreshed.props.rules)).toContain("src-address=10.112.0.2 test-script=");
    const from = s.log.length;
    const again = await upAgain(first.id, refreshed.props, sharedSpec(targetOf(s)));
    expect(again.changed).toBe(true);
    // exactly the two entries that name wlan1's address: its probe's rule and the probe
    expect(writesSince(s, from)).toEqual(["/routing/rule/set *1", "/tool/netwatch/set *1"]);
    expect(s.entries("/routing/rule")[0]).toMatchObject({
      comment: "lbgw:gw:probe:wlan1:1.1.1.1",
      "src-address": "10.112.0.7/32",
    });
    expect(s.entries("/tool/netwatch")[0]["src-address"]).toBe("10.112.0.7");
  });

  test("RouterOS before 7.11.3 (no netwatch src-address) is refused before any write, naming the versions", async () => {
    sim = await seedRouter("7.10.2");
    const s = sim;
    await expect(up(sharedSpec(targetOf(s)))).rejects.toThrow(
      "RouterOS 7.10.2 (stable) on 127.0.0.1 is older than 7.11.3, the oldest RouterOS 7 this provider supports",
    );
    expect(s.entries("/tool/netwatch")).toEqual([]);
  });
});
