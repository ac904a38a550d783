/**
 * Pins for the router's own traffic and sticky as an idle timeout (issue 10, items 2 and 3): the provider
 * writes to the simulator, then the packet-path evaluator runs connections through what the simulator
 * holds, on its virtual clock.
 */
import { buildPlan } from "../../provider/plan/plan";
import { renderRouterOs } from "../../provider/routeros/render";
import { parseSpec, type SpecInput } from "../../provider/spec/schema";
import { seedNthSticky, thirdLink } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { type Flow, type PacketPath, ProbeWorld } from "../../labs/routeros-sim/packet-path";
import { packetPathOn, seedRouter, targetOf, up } from "./support";

const SERVER = "203.0.113.80";
const ISP2_DNS = "203.0.113.53";
const WLAN1 = { iface: "wlan1", address: "10.112.0.2", target: "198.51.100.1" };
const WLAN2 = { iface: "wlan2", address: "10.111.0.2", target: "198.51.100.2" };
const TARGET: Record<string, string> = { wlan1: WLAN1.target, wlan2: WLAN2.target };
const ADDRESS: Record<string, string> = { wlan1: WLAN1.address, wlan2: WLAN2.address };
/** Each link's ISP router: a failure beyond it leaves the target answering through the other link. */
const GATEWAY: Record<string, string> = { wlan1: "10.112.0.1", wlan2: "10.111.0.1" };
const client = (i: number) => `192.168.0.${10 + i}`;
const other = (l: string) => (l === "wlan1" ? "wlan2" : "wlan1");
const STEP = 10_000;

async function applied(version: string, spec: (t: SpecInput["target"]) => SpecInput) {
  const sim = await seedRouter(version);
  await up(spec(targetOf(sim)));
  const world = new ProbeWorld();
  return { sim, world, path: packetPathOn(sim, world) };
}

test("the new entries have stable, readable keys", () => {
  const r = parseSpec(seedNthSticky({ pins: [{ destination: ISP2_DNS, link: "wlan2" }] }));
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  const keys = renderRouterOs(buildPlan(r.spec), 7)["/ip/firewall/mangle"].map((e) => e.key);
  expect(keys).toEqual(
    expect.arrayContaining(["pin:0:output", "sticky:refresh:wlan1", "sticky:refresh:wlan2"]),
  );
  // the router's pin binds before output:<link> gives the routing mark
  expect(keys.indexOf("pin:0:output")).toBeLessThan(keys.indexOf("output:wlan2"));
  // users are recorded by the link they leave by, after its rebind; the pick chains only bind
  expect(keys.filter((k) => k.startsWith("egress:wlan1"))).toEqual(["egress:wlan1", "egress:wlan1:sticky"]);
  expect(keys.filter((k) => k.startsWith("pick:"))).toEqual(["pick:wlan1", "pick:wlan2"]);
});

describe.each(["6.49.10", "7.16.2"])("on RouterOS %s", (version) => {
  let sim: RouterOsSim;
  afterEach(async () => sim?.close());

  test("a pin holds for the router's own connections: pinned link, kept, and its table's failover", async () => {
    // routerTraffic is wlan1: without the pin the router would ask the ISP2 resolver through wlan1
    const env = await applied(version, (t) =>
      seedNthSticky({ target: t, routerTraffic: "wlan1", pins: [{ destination: ISP2_DNS, link: "wlan2" }] }),
    );
    sim = env.sim;
    const dns = () => env.path.open({ inInterface: "router", dst: ISP2_DNS, protocol: "udp", dstPort: 53 });
    expect(env.path.open({ inInterface: "router", dst: SERVER, protocol: "udp" }).first.outInterface).toBe(
      "wlan1",
    );

    const q = dns();
    expect(q.first.outInterface).toBe("wlan2");
    expect(q.first.connectionMark).toBe("lbgw-gw-wlan2");
    // the router sourced it from main's route (wlan1's address); wlan2's masquerade fixed the source
    expect(q.original.src).toBe(WLAN1.address);
    expect(q.first.wire.src).toBe(WLAN2.address);
    expect(q.first.sourceMismatch ?? false).toBe(false);
    const again = env.path.packet(q, "original");
    expect(again.outInterface).toBe("wlan2");
    expect(again.wire.src).toBe(WLAN2.address);
    expect(env.path.packet(q, "reply").outInterface).toBe("local");

    // wlan2 fails beyond its ISP's router: the pinned destination is reached through wlan2's fallback
    env.world.kill(WLAN2.target);
    env.path.advance(30_000);
    const during = dns();
    expect(during.first.outInterface).toBe("wlan1");
    expect(during.first.wire.src).toBe(WLAN1.address);
    expect(during.first.connectionMark).toBe("lbgw-gw-wlan1");
    env.world.revive(WLAN2.target);
    env.path.advance(30_000);
    expect(dns().first.outInterface).toBe("wlan2");
    // a connection made during the failure keeps the uplink it left by (its NAT stays valid)
    const later = env.path.packet(during, "original");
    expect(later.outInterface).toBe("wlan1");
    expect(later.sourceMismatch ?? false).toBe(false);
  });

  describe("sticky is an idle timeout", () => {
    const TIMEOUT = 60_000;
    const sticky = (t: SpecInput["target"]) => seedNthSticky({ target: t, sticky: { timeout: "1m" } });
    const open = (path: PacketPath, src: string, dst = SERVER) =>
      path.open({ inInterface: "Local", src, dst, protocol: "tcp" });
    /** One packet each way on `flow`, `steps` times, 10 s apart (well inside the timeout). */
    const keepBusy = (path: PacketPath, flow: Flow, steps: number) => {
      for (let m = 0; m < steps; m++) {
        path.advance(STEP);
        path.packet(flow, "original");
        path.packet(flow, "reply");
      }
    };
    /** New users until one lands on `link`: nth then hands the next unbound connection to the other link. */
    const pointClassifierAwayFrom = (path: PacketPath, link: string) => {
      for (let k = 0; k < 4; k++) if (open(path, client(100 + k)).first.outInterface === link) return;
      throw new Error(`no new user landed on ${link}`);
    };
    const listsOf = (path: PacketPath, address: string) =>
      path
        .dynamicAddressList()
        .filter((e) => e.address === address)
        .map((e) => e.list);

    test("a user with one connection kept busy for 2.5 x timeout gets every new connection on its link", async () => {
      const env = await applied(version, sticky);
      sim = env.sim;
      const user = client(1);
      const busy = open(env.path, user);
      const link = busy.first.outInterface;
      keepBusy(env.path, busy, 15); // 2.5 x the timeout; the user opened nothing new meanwhile
      expect(listsOf(env.path, user)).toEqual([`lbgw-gw-sticky-${link}`]);
      // A user the router had forgotten would now be classified to the other link.
      pointClassifierAwayFrom(env.path, link);
      for (let i = 0; i < 5; i++)
        expect(open(env.path, user, `203.0.113.${i + 1}`).first.outInterface).toBe(link);
      expect(env.path.packet(busy, "original").outInterface).toBe(link);
      expect(listsOf(env.path, user)).toEqual([`lbgw-gw-sticky-${link}`]);
    });

    test("a user is forgotten exactly timeout after its last packet, not before", async () => {
      const env = await applied(version, sticky);
      sim = env.sim;
      const user = client(2);
      const busy = open(env.path, user);
      keepBusy(env.path, busy, 15);
      env.path.advance(TIMEOUT - STEP);
      expect(listsOf(env.path, user)).toHaveLength(1);
      env.path.advance(STEP);
      expect(listsOf(env.path, user)).toEqual([]);
    });

    test("failover still moves a busy user whose link failed", async () => {
      const env = await applied(version, sticky);
      sim = env.sim;
      const user = client(3);
      const busy = open(env.path, user);
      const link = busy.first.outInterface;
      env.world.kill(TARGET[link]);
      keepBusy(env.path, busy, 1);
      env.path.advance(30_000);
      const moved = open(env.path, user);
      expect(moved.first.outInterface).toBe(other(link));
      expect(moved.first.connectionMark).toBe(`lbgw-gw-${other(link)}`);
    });

    /** Every address in at most one sticky list. */
    const oneListEach = (path: PacketPath) => {
      const lists = new Map<string, string[]>();
      for (const e of path.dynamicAddressList())
        if (e.list.startsWith("lbgw-gw-sticky-"))
          lists.set(e.address, [...(lists.get(e.address) ?? []), e.list]);
      expect([...lists].filter(([, l]) => l.length > 1)).toEqual([]);
    };

    test("a user moved by a failover keeps the link it used during the outage after recovery, until idle", async () => {
      const env = await applied(version, sticky);
      sim = env.sim;
      const user = client(4);
      const before = open(env.path, user);
      const a = before.first.outInterface;
      const b = other(a);
      keepBusy(env.path, before, 2);
      expect(listsOf(env.path, user)).toEqual([`lbgw-gw-sticky-${a}`]);

      // a fails beyond its ISP's router; the probe's down round forgets a's sticky users
      env.world.kill(TARGET[a], GATEWAY[a]);
      env.path.advance(5_000);
      expect(listsOf(env.path, user)).toEqual([]);
      const outage = open(env.path, user);
      expect(outage.first.outInterface).toBe(b);
      expect(outage.first.wire.src).toBe(ADDRESS[b]);
      // recorded by the link it really left by, not by the one its classification picked
      expect(listsOf(env.path, user)).toEqual([`lbgw-gw-sticky-${b}`]);
      oneListEach(env.path);

      // a recovers; the user keeps its outage connection busy for longer than the timeout
      env.world.revive(TARGET[a], GATEWAY[a]);
      keepBusy(env.path, outage, 3);
      // a carries its table's traffic again
      expect(env.path.lookup(SERVER, { routingMark: `lbgw-gw-${a}` }).outInterface).toBe(a);
      pointClassifierAwayFrom(env.path, b); // a user the router had forgotten would now go to a
      for (let i = 0; i < 4; i++) {
        const c = open(env.path, user, `203.0.113.${i + 1}`);
        expect(c.first.outInterface).toBe(b); // one public address: b's
        expect(c.first.wire.src).toBe(ADDRESS[b]);
        keepBusy(env.path, outage, 2);
        oneListEach(env.path);
      }
      expect(listsOf(env.path, user)).toEqual([`lbgw-gw-sticky-${b}`]);

      // silence for the timeout: the user is forgotten and classified as any new user again
      env.path.advance(TIMEOUT);
      expect(listsOf(env.path, user)).toEqual([]);
      pointClassifierAwayFrom(env.path, b);
      expect(open(env.path, user).first.outInterface).toBe(a);
      expect(listsOf(env.path, user)).toEqual([`lbgw-gw-sticky-${a}`]);
    });

    test("a user moved to a backup tier stays there after the best tier recovers, until idle", async () => {
      const env = await applied(version, (t) =>
        seedNthSticky({
          target: t,
          sticky: { timeout: "1m" },
          links: [...(sticky(t).links as object[]), { ...thirdLink, tier: 2 }] as SpecInput["links"],
        }),
      );
      sim = env.sim;
      const user = client(5);
      open(env.path, user);
      for (const l of ["wlan1", "wlan2"]) env.world.kill(TARGET[l], GATEWAY[l]);
      env.path.advance(5_000);
      expect(listsOf(env.path, user)).toEqual([]);
      const outage = open(env.path, user);
      expect(outage.first.outInterface).toBe("lte1");
      expect(listsOf(env.path, user)).toEqual(["lbgw-gw-sticky-lte"]);
      for (const l of ["wlan1", "wlan2"]) env.world.revive(TARGET[l], GATEWAY[l]);
      keepBusy(env.path, outage, 3);
      expect(open(env.path, client(40)).first.outInterface).not.toBe("lte1"); // the best tier is back
      for (let i = 0; i < 4; i++) {
        expect(open(env.path, user, `203.0.113.${i + 1}`).first.outInterface).toBe("lte1");
        keepBusy(env.path, outage, 2);
        oneListEach(env.path);
      }
      env.path.advance(TIMEOUT);
      expect(open(env.path, user).first.outInterface).not.toBe("lte1");
    });

    test("no user is in two sticky lists at any point of a failover and recovery", async () => {
      const env = await applied(version, sticky);
      sim = env.sim;
      const users = [0, 1, 2, 3, 4, 5].map((i) => client(20 + i));
      const flows = users.map((u) => open(env.path, u));
      const a = flows[0].first.outInterface;
      const step = (k: number) => {
        users.forEach((u, i) => {
          const f = open(env.path, u, `203.0.113.${100 + k}`);
          env.path.packet(f, "reply");
          if (k % 2 === i % 2) env.path.packet(flows[i], "original");
        });
        env.path.advance(500);
        oneListEach(env.path);
      };
      for (let k = 0; k < 4; k++) step(k);
      env.world.kill(TARGET[a], GATEWAY[a]);
      for (let k = 4; k < 20; k++) step(k); // the failover happens within these 8 s
      env.world.revive(TARGET[a], GATEWAY[a]);
      for (let k = 20; k < 50; k++) step(k);
      // every user ended where its connections of the outage went
      expect(users.flatMap((u) => listsOf(env.path, u))).toEqual(
        users.map(() => `lbgw-gw-sticky-${other(a)}`),
      );
    });

    test("the router's own connections never enter a sticky list", async () => {
      const env = await applied(version, (t) =>
        seedNthSticky({
          target: t,
          sticky: { timeout: "1m" },
          pins: [{ destination: ISP2_DNS, link: "wlan2" }],
        }),
      );
      sim = env.sim;
      const mine = [
        env.path.open({ inInterface: "router", dst: SERVER, protocol: "udp" }),
        env.path.open({ inInterface: "router", dst: ISP2_DNS, protocol: "udp", dstPort: 53 }),
        env.path.open({ inInterface: "router", dst: SERVER, protocol: "tcp" }),
      ];
      expect(mine.map((f) => f.first.connectionMark)).toEqual([
        "lbgw-gw-wlan1",
        "lbgw-gw-wlan2",
        "lbgw-gw-wlan1",
      ]);
      env.world.kill(WLAN1.target, GATEWAY.wlan1);
      env.path.advance(5_000);
      expect(env.path.open({ inInterface: "router", dst: SERVER, protocol: "udp" }).first.outInterface).toBe(
        "wlan2",
      );
      expect(env.path.dynamicAddressList()).toEqual([]);
    });

    test("a pinned connection records no sticky user: a user keeps its one list", async () => {
      const env = await applied(version, (t) =>
        seedNthSticky({
          target: t,
          sticky: { timeout: "1m" },
          pins: [{ destination: ISP2_DNS, link: "wlan2" }],
        }),
      );
      sim = env.sim;
      const dns = (src: string) =>
        env.path.open({ inInterface: "Local", src, dst: ISP2_DNS, protocol: "udp", dstPort: 53 });
      // a user whose first connection is pinned is no sticky user yet
      expect(dns(client(30)).first.outInterface).toBe("wlan2");
      expect(listsOf(env.path, client(30))).toEqual([]);
      // a user of wlan1 asks the pinned resolver: still in wlan1's list only
      pointClassifierAwayFrom(env.path, "wlan2");
      const user = client(31);
      expect(open(env.path, user).first.outInterface).toBe("wlan1");
      expect(dns(user).first.outInterface).toBe("wlan2");
      expect(listsOf(env.path, user)).toEqual(["lbgw-gw-sticky-wlan1"]);
      expect(open(env.path, user).first.outInterface).toBe("wlan1");
    });
  });
});
