/**
 * What the applied configuration DOES: the provider writes to the simulator through node-routeros, then the
 * packet-path evaluator runs connections through exactly what the simulator holds.
 */
import type { SpecInput } from "../../provider/spec/schema";
import { seedEcmp, seedNthSticky } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { ProbeWorld } from "../../labs/routeros-sim/packet-path";
import { FOREIGN, packetPathOn, seedRouter, targetOf, up } from "./support";

const SERVER = "203.0.113.80";
const client = (i: number) => `192.168.0.${10 + i}`;
const WLAN1 = { iface: "wlan1", address: "10.112.0.2", target: "198.51.100.1" };
const WLAN2 = { iface: "wlan2", address: "10.111.0.2", target: "198.51.100.2" };

async function applied(version: string, spec: (t: SpecInput["target"]) => SpecInput) {
  const sim = await seedRouter(version);
  await up(spec(targetOf(sim)));
  const world = new ProbeWorld();
  const path = packetPathOn(sim, world);
  return { sim, world, path };
}

const weights = (w1: number, w2: number) => (t: SpecInput["target"]) => {
  const s = seedNthSticky({ target: t, sticky: false });
  (s.links as Array<Record<string, unknown>>)[0].weight = w1;
  (s.links as Array<Record<string, unknown>>)[1].weight = w2;
  return s;
};

describe.each(["6.49.10", "7.16.2"])("behaviour on RouterOS %s", (version) => {
  let sim: RouterOsSim;
  afterEach(async () => sim?.close());

  test("nth: new connections follow the weights exactly (3:1 over 400 connections)", async () => {
    const env = await applied(version, weights(3, 1));
    sim = env.sim;
    const out = { wlan1: 0, wlan2: 0 } as Record<string, number>;
    for (let i = 0; i < 400; i++) {
      const f = env.path.open({
        inInterface: "Local",
        src: client(i % 40),
        dst: SERVER,
        protocol: "tcp",
        dstPort: 443,
      });
      out[f.first.outInterface]++;
      // the server sees the uplink's own address
      expect(f.first.wire.src).toBe(f.first.outInterface === "wlan1" ? WLAN1.address : WLAN2.address);
    }
    expect(out).toEqual({ wlan1: 300, wlan2: 100 });
  });

  test("sticky: every user keeps its link for all its connections, and is in one sticky list only", async () => {
    const env = await applied(version, (t) => seedNthSticky({ target: t }));
    sim = env.sim;
    const linkOf = new Map<string, Set<string>>();
    for (let round = 0; round < 10; round++)
      for (let c = 0; c < 20; c++) {
        const f = env.path.open({
          inInterface: "Local",
          src: client(c),
          dst: `203.0.113.${round + 1}`,
          protocol: "tcp",
        });
        const seen = linkOf.get(client(c)) ?? new Set<string>();
        seen.add(f.first.outInterface);
        linkOf.set(client(c), seen);
      }
    expect([...linkOf.values()].every((s) => s.size === 1)).toBe(true);
    const perLink = [...linkOf.values()].map((s) => [...s][0]);
    expect(perLink.filter((l) => l === "wlan1")).toHaveLength(10);
    const lists = env.path.dynamicAddressList();
    const addresses = lists.map((e) => e.address);
    expect(new Set(addresses).size).toBe(addresses.length);
    expect(lists).toHaveLength(20);
  });

  test("traffic to the LAN, to a gateway and to the router itself is never marked", async () => {
    const env = await applied(version, (t) => seedNthSticky({ target: t }));
    sim = env.sim;
    for (const dst of ["192.168.0.200", "192.168.0.1", WLAN2.address, "10.112.0.1"]) {
      const f = env.path.open({ inInterface: "Local", src: client(1), dst, protocol: "tcp", dstPort: 22 });
      expect(f.first.connectionMark).toBeUndefined();
      expect(f.first.routingMark).toBeUndefined();
    }
    const toRouter = env.path.open({
      inInterface: "Local",
      src: client(1),
      dst: "192.168.0.1",
      protocol: "tcp",
      dstPort: 8291,
    });
    expect(toRouter.first.outInterface).toBe("local");
  });

  test("failover: when a link's probe target stops answering its users move to the live link, and come back", async () => {
    const env = await applied(version, weights(1, 1));
    sim = env.sim;
    const share = () => {
      const n: Record<string, number> = { wlan1: 0, wlan2: 0 };
      for (let i = 0; i < 20; i++)
        n[
          env.path.open({ inInterface: "Local", src: client(i), dst: SERVER, protocol: "tcp" }).first
            .outInterface
        ]++;
      return n;
    };
    expect(share()).toEqual({ wlan1: 10, wlan2: 10 });
    // the uplink stays up, the target beyond the ISP gateway stops answering
    env.world.kill(WLAN1.target);
    env.path.advance(30_000);
    const during = env.path.open({ inInterface: "Local", src: client(99), dst: SERVER, protocol: "tcp" });
    expect(share()).toEqual({ wlan1: 0, wlan2: 20 });
    env.world.revive(WLAN1.target);
    env.path.advance(30_000);
    expect(share()).toEqual({ wlan1: 10, wlan2: 10 });
    // a connection made during the failover keeps the uplink it left by after recovery (its NAT survives)
    const later = env.path.packet(during, "original");
    expect(later.outInterface).toBe(during.first.outInterface);
    expect(later.sourceMismatch ?? false).toBe(false);
  });

  test("inbound symmetry: replies to connections that came in on an uplink leave by it", async () => {
    const env = await applied(version, (t) => seedNthSticky({ target: t, routerTraffic: "wlan1" }));
    sim = env.sim;
    // to the router's own wlan2 address (main's default is wlan1)
    const toRouter = env.path.open({
      inInterface: "wlan2",
      src: "198.18.0.9",
      dst: WLAN2.address,
      protocol: "tcp",
      dstPort: 443,
    });
    expect(toRouter.first.outInterface).toBe("local");
    const reply = env.path.packet(toRouter, "reply");
    expect(reply.outInterface).toBe("wlan2");
    expect(reply.wire.src).toBe(WLAN2.address);
    // port-forwarded to a LAN server by the operator's own dst-nat rule
    const forwarded = env.path.open({
      inInterface: "wlan2",
      src: "198.18.0.9",
      dst: WLAN2.address,
      protocol: "tcp",
      dstPort: 8080,
    });
    expect(forwarded.first.wire.dst).toBe(FOREIGN.nat["to-addresses"]);
    const back = env.path.packet(forwarded, "reply");
    expect(back.outInterface).toBe("wlan2");
  });

  test("the router's own traffic uses the configured link, and fails over", async () => {
    const env = await applied(version, (t) => seedNthSticky({ target: t, routerTraffic: "wlan2" }));
    sim = env.sim;
    expect(
      env.path.open({ inInterface: "router", dst: SERVER, protocol: "udp", dstPort: 53 }).first.outInterface,
    ).toBe("wlan2");
    env.world.kill(WLAN2.target);
    env.path.advance(30_000);
    expect(
      env.path.open({ inInterface: "router", dst: SERVER, protocol: "udp", dstPort: 53 }).first.outInterface,
    ).toBe("wlan1");
  });

  test("ecmp: connections are pinned to the uplink they left by, so route changes do not move them", async () => {
    const env = await applied(version, (t) => seedEcmp({ target: t }));
    sim = env.sim;
    const flows = Array.from({ length: 40 }, (_, i) =>
      env.path.open({
        inInterface: "Local",
        src: client(i),
        dst: SERVER,
        protocol: "tcp",
        srcPort: 40000 + i,
      }),
    );
    const used = new Set(flows.map((f) => f.first.outInterface));
    expect(used).toEqual(new Set(["wlan1", "wlan2"]));
    expect(flows.every((f) => f.first.connectionMark === `lbgw-gw-${f.first.outInterface}`)).toBe(true);
    // 20 minutes: v6 flushes its route cache twice; nothing moves
    env.path.advance(20 * 60_000);
    for (const f of flows) expect(env.path.packet(f, "original").outInterface).toBe(f.first.outInterface);
    // the pinned DNS server always leaves by wlan2
    const dns = env.path.open({
      inInterface: "Local",
      src: client(3),
      dst: "203.0.113.53",
      protocol: "udp",
      dstPort: 53,
    });
    expect(dns.first.outInterface).toBe("wlan2");
  });
});
