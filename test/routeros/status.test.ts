/**
 * Live link status on RouterOS (simulator + packet-path evaluator): before an upstream failure beyond
 * wlan1's ISP router, during it and after recovery. Connections opened through the evaluator are counted
 * per link (by their connection mark, over the API's `count-only` prints of `/ip/firewall/connection`),
 * sticky users by the dynamic entries of each sticky list; up/down follows the owned routes the netwatch
 * scripts toggle, the last probe each link's netwatch status. Also: `pulumi refresh` (provider read) gives
 * the same as `linkStatus`, and the status read writes nothing.
 */
import { main } from "../../cli/lbgw";
import type { GatewayStatus } from "../../provider/common/status";
import { routerOsDevice } from "../../provider/backends";
import { diff, read } from "../../provider/index";
import { buildPlan } from "../../provider/plan/plan";
import { readRouterOsStatus, rosSince } from "../../provider/routeros/status";
import { parseSpec, type Spec, type SpecInput } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { showDataPlane } from "../../labs/routeros-sim/data-plane";
import { ProbeWorld, type Flow, type PacketPath } from "../../labs/routeros-sim/packet-path";
import { packetPathOn, seedRouter, targetOf, up } from "./support";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SERVER = "203.0.113.80";
const WLAN1_TARGET = "198.51.100.1";
const WLAN1_GW = "10.112.0.1";

describe.each(["7.16.2", "6.49.10"])("RouterOS %s link status through an upstream failure", (version) => {
  let sim: RouterOsSim;
  let path: PacketPath;
  let world: ProbeWorld;
  let spec: Spec;
  let created: { id: string; inputs: Record<string, unknown>; outs: Record<string, unknown> };
  const flows: Flow[] = [];
  let port = 30000;

  const status = () => readRouterOsStatus(deviceOf(spec), buildPlan(spec));
  const link = (s: GatewayStatus, name: string) => s.links.find((l) => l.link === name)!;
  /** A LAN connection from `src`, answered (established); its link is where its first packet left. */
  const connect = (src: string) => {
    const f = path.open({ inInterface: "Local", src, dst: SERVER, srcPort: port++, dstPort: 443 });
    path.packet(f, "reply");
    flows.push(f);
    return f.first.outInterface;
  };
  const through = (iface: string) => flows.filter((f) => f.first.outInterface === iface).length;
  const usersOn = (iface: string) =>
    new Set(flows.filter((f) => f.first.outInterface === iface).map((f) => f.original.src)).size;
  const advanceUntil = async (what: string, ok: (s: GatewayStatus) => boolean) => {
    for (let t = 0; t < 20_000; t += 100) {
      const s = await status();
      if (ok(s)) return s;
      path.advance(100);
    }
    throw new Error(`not within 20 s (modelled): ${what}`);
  };

  beforeAll(async () => {
    sim = await seedRouter(version);
    const input: SpecInput = seedNthSticky({ target: targetOf(sim) });
    const parsed = parseSpec(input);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.failures));
    spec = parsed.spec;
    jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    created = await up(input);
    world = new ProbeWorld();
    path = packetPathOn(sim, world);
    showDataPlane(sim, path);
    path.advance(5_000); // probes settle: every target answers
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await sim.close();
  });

  let before: GatewayStatus;

  test("before: both links up, probes ok, each link's connections and sticky users counted", async () => {
    for (let i = 0; i < 12; i++) connect(`192.168.0.${10 + i}`);
    for (let i = 0; i < 12; i++) connect(`192.168.0.${10 + i}`); // a second one per user (sticky: same link)
    expect(through("wlan1")).toBeGreaterThan(0);
    expect(through("wlan2")).toBeGreaterThan(0);
    const writes = sim.stats().writes;
    before = await status();
    expect(sim.stats().writes).toBe(writes); // read-only
    expect(link(before, "wlan1")).toMatchObject({
      up: true,
      lastProbe: "ok",
      source: "netwatch",
      connections: through("wlan1"),
      stickyUsers: usersOn("wlan1"),
    });
    expect(link(before, "wlan2")).toMatchObject({
      up: true,
      lastProbe: "ok",
      connections: through("wlan2"),
      stickyUsers: usersOn("wlan2"),
    });
    expect(link(before, "wlan1").since).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
  });

  test("during: wlan1 down (its routes disabled by its netwatch script), probe failed, new users on wlan2", async () => {
    world.kill(WLAN1_TARGET, WLAN1_GW);
    const during = await advanceUntil("wlan1 down", (s) => link(s, "wlan1").up === false);
    expect(link(during, "wlan1").lastProbe).toBe("failed");
    expect(link(during, "wlan1").since! >= link(before, "wlan1").since!).toBe(true);
    expect(link(during, "wlan2")).toMatchObject({ up: true, lastProbe: "ok" });
    for (let i = 0; i < 6; i++) expect(connect(`192.168.0.${40 + i}`)).toBe("wlan2");
    const now = await status();
    // Established connections keep their mark: still counted on wlan1; the new ones on wlan2.
    expect(link(now, "wlan1").connections).toBe(through("wlan1"));
    expect(link(now, "wlan2").connections).toBe(through("wlan2"));
    // Sticky users: per list, what the router holds (who is recorded where is the renderer's business).
    const inList = (l: string) =>
      path.dynamicAddressList().filter((e) => e.list === `${buildPlan(spec).prefix}-sticky-${l}`);
    expect(link(now, "wlan1").stickyUsers).toBe(inList("wlan1").length);
    expect(link(now, "wlan2").stickyUsers).toBe(inList("wlan2").length);
    expect(link(now, "wlan2").stickyUsers).toBeGreaterThan(0);
  });

  test("after recovery: wlan1 up again, probe ok, counts still those of the traffic", async () => {
    world.revive(WLAN1_TARGET, WLAN1_GW);
    const after = await advanceUntil("wlan1 up", (s) => link(s, "wlan1").up === true);
    expect(link(after, "wlan1").lastProbe).toBe("ok");
    const fresh = Array.from({ length: 8 }, (_, i) => connect(`192.168.0.${60 + i}`));
    expect(fresh).toContain("wlan1");
    const now = await status();
    expect(link(now, "wlan1").connections).toBe(through("wlan1"));
    expect(link(now, "wlan2").connections).toBe(through("wlan2"));
    expect(through("wlan1") + through("wlan2")).toBe(flows.length);
  });

  test("refresh: the same status as the linkStatus output; status alone never makes a diff", async () => {
    const refreshed = await read(created.id, created.outs);
    const ls = refreshed.props!.linkStatus as Record<string, { up: boolean; connections: number }>;
    expect(ls.wlan1).toMatchObject({ up: true, connections: through("wlan1") });
    expect(ls.wlan2).toMatchObject({ up: true, connections: through("wlan2") });
    expect(refreshed.inputs).not.toHaveProperty("linkStatus");
    // As the engine's refresh asks: the refreshed state against the program's inputs.
    const d = await diff(created.id, refreshed.props!, created.inputs);
    expect(d.changes).toBe(false);
  });

  test("lbgw status --spec … --json against the router; the password never printed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lbgw-status-ros-"));
    const file = join(dir, "office.json");
    const { target: _t, ...args } = seedNthSticky();
    writeFileSync(file, JSON.stringify(args));
    process.env.LBGW_TEST_ROS_PASSWORD = "s3cret";
    let out = "";
    let err = "";
    const code = await main(
      [
        "status",
        "--spec",
        file,
        "--target",
        "routeros",
        "--ros-version",
        String(sim.version.major),
        "--host",
        sim.host,
        "--port",
        String(sim.port),
        "--user",
        "admin",
        "--password-env",
        "LBGW_TEST_ROS_PASSWORD",
        "--json",
      ],
      (s) => (out += s),
      (s) => (err += s),
    );
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const json = JSON.parse(out) as GatewayStatus;
    expect(json.links.map((l) => [l.link, l.up, l.connections])).toEqual([
      ["wlan1", true, through("wlan1")],
      ["wlan2", true, through("wlan2")],
    ]);
    expect(out).not.toContain("s3cret");
  });
});

test("netwatch since: both RouterOS date forms", () => {
  expect(rosSince("2026-12-07 20:26:14")).toBe("2026-12-07T20:26:14");
  expect(rosSince("dec/07/2026 20:26:14")).toBe("2026-12-07T20:26:14");
  expect(rosSince("")).toBeNull();
});

function deviceOf(spec: Spec) {
  return { ...routerOsDevice(spec.target.routeros!), timeoutMs: 5000 };
}
