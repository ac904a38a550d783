/**
 * The packet-path evaluator against hand-written router prints: what the seeds' configurations do,
 * including the faults the seeds describe (and some they do not).
 *
 * Address plan of the seeds: LAN `Local` 192.168.0.1/24; wlan2 10.111.0.2/24 (gateway 10.111.0.1);
 * wlan1 10.112.0.2/24 (gateway 10.112.0.1).
 */
import {
  ConfigError,
  PacketPath,
  ProbeWorld,
  type Flow,
  type RosTables,
} from "../../labs/routeros-sim/packet-path";

type Entry = Record<string, string>;

const ADDRESSES: Entry[] = [
  { ".id": "*1", address: "192.168.0.1/24", network: "192.168.0.0", interface: "Local", disabled: "false" },
  { ".id": "*2", address: "10.111.0.2/24", network: "10.111.0.0", interface: "wlan2", disabled: "false" },
  { ".id": "*3", address: "10.112.0.2/24", network: "10.112.0.0", interface: "wlan1", disabled: "false" },
];

const MASQUERADE: Entry[] = [
  { ".id": "*N1", chain: "srcnat", action: "masquerade", "out-interface": "wlan1", disabled: "false" },
  { ".id": "*N2", chain: "srcnat", action: "masquerade", "out-interface": "wlan2", disabled: "false" },
];

/** A mangle rule as print returns it. */
function m(id: string, props: Entry): Entry {
  return {
    ".id": id,
    disabled: "false",
    invalid: "false",
    dynamic: "false",
    log: "false",
    "log-prefix": "",
    ...props,
  };
}

/** New traffic from the seeds' LAN, in prerouting. */
const LAN: Entry = { chain: "prerouting", "in-interface": "Local" };

/** Marks the connection of what `match` matches; goes on to the next rule unless told otherwise. */
const markConnection = (id: string, mark: string, match: Entry, passthrough = "true"): Entry =>
  m(id, { ...match, action: "mark-connection", "new-connection-mark": mark, passthrough });

/** Routes what `match` matches by routing mark (table) `mark`; the last rule for it unless told otherwise. */
const markRouting = (id: string, mark: string, match: Entry, passthrough = "false"): Entry =>
  m(id, { ...match, action: "mark-routing", "new-routing-mark": mark, passthrough });

function route(id: string, props: Entry): Entry {
  return { ".id": id, disabled: "false", distance: "1", scope: "30", "target-scope": "10", ...props };
}

const client = (n: number): string => `192.168.0.${n}`;

function openFrom(pp: PacketPath, src: string, dst = "93.184.216.34", dstPort = 443): Flow {
  return pp.open({ inInterface: "Local", src, dst, protocol: "tcp", dstPort });
}

function listsOf(pp: PacketPath, address: string): string[] {
  return pp
    .dynamicAddressList()
    .filter((e) => e.address === address)
    .map((e) => e.list)
    .sort();
}

// ----------------------------------------------------------------------------------------------------
// Seed 001: NTH load balancing with masquerade, persistent per-user sessions (RouterOS v6)
// ----------------------------------------------------------------------------------------------------

/** The five mangle rules of one "side" of seed 001 (mark, remember the client, route). */
function seed001Mangle(variant: "published" | "fixed" | "remedy-only"): Entry[] {
  const sticky = [
    markConnection("*A1", "odd", { ...LAN, "src-address-list": "odd" }),
    markRouting("*A2", "odd", { ...LAN, "src-address-list": "odd" }),
    markConnection("*A3", "even", { ...LAN, "src-address-list": "even" }),
    markRouting("*A4", "even", { ...LAN, "src-address-list": "even" }),
  ];
  const oddNth: Entry = {
    chain: "prerouting",
    "in-interface": "Local",
    "connection-state": "new",
    nth: "2,1",
    action: "mark-connection",
    "new-connection-mark": "odd",
    passthrough: "true",
  };
  const evenNth: Entry = {
    chain: "prerouting",
    "in-interface": "Local",
    "connection-state": "new",
    nth: "2,2",
    action: "mark-connection",
    "new-connection-mark": "even",
    passthrough: "true",
  };
  if (variant !== "published") {
    oddNth["src-address-list"] = "!even"; // the errata's remedy
    evenNth["src-address-list"] = "!odd";
  }
  if (variant === "fixed") delete evenNth.nth; // the second rule only sees what the first left: take all of it
  return [
    ...sticky,
    m("*A5", oddNth),
    m("*A6", {
      chain: "prerouting",
      "in-interface": "Local",
      action: "add-src-to-address-list",
      "address-list": "odd",
      "address-list-timeout": "1d 00:00:00",
      "connection-mark": "odd",
      passthrough: "true",
    }),
    markRouting("*A7", "odd", { ...LAN, "connection-mark": "odd" }),
    m("*A8", evenNth),
    m("*A9", {
      chain: "prerouting",
      "in-interface": "Local",
      action: "add-src-to-address-list",
      "address-list": "even",
      "address-list-timeout": "1d",
      "connection-mark": "even",
      passthrough: "true",
    }),
    markRouting("*AA", "even", { ...LAN, "connection-mark": "even" }),
  ];
}

function seed001(variant: "published" | "fixed" | "remedy-only"): RosTables {
  return {
    "/ip/address": ADDRESSES,
    "/ip/firewall/mangle": seed001Mangle(variant),
    "/ip/firewall/nat": MASQUERADE,
    "/ip/route": [
      route("*R1", {
        "dst-address": "0.0.0.0/0",
        gateway: "10.111.0.1",
        scope: "255",
        "routing-mark": "odd",
      }),
      route("*R2", {
        "dst-address": "0.0.0.0/0",
        gateway: "10.112.0.1",
        scope: "255",
        "routing-mark": "even",
      }),
      route("*R3", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1", scope: "255" }),
    ],
  };
}

describe("seed 001 (nth + address lists, v6)", () => {
  it("as published: the nth=2,2 rule only counts what nth=2,1 left, so a quarter of new clients stay unmarked", () => {
    const tables = seed001("published");
    const pp = new PacketPath(() => tables, { major: 6, world: new ProbeWorld() });
    const first = [11, 12, 13, 14, 15, 16, 17, 18].map((n) => openFrom(pp, client(n)).first);
    expect(first.map((r) => r.connectionMark ?? "-")).toEqual([
      "odd",
      "-",
      "odd",
      "even",
      "odd",
      "-",
      "odd",
      "even",
    ]);
    // Unmarked connections use main, whose default also points at wlan1, so per uplink it looks 1:1 ...
    expect(first.map((r) => r.outInterface)).toEqual([
      "wlan2",
      "wlan1",
      "wlan2",
      "wlan1",
      "wlan2",
      "wlan1",
      "wlan2",
      "wlan1",
    ]);
    expect(first[1].routingTable).toBe("main");
    expect(first[1].matchedRules).toEqual(["*N1"]); // only the masquerade
    expect(first[3].matchedRules).toEqual(["*A8", "*A9", "*AA", "*N1"]);
    // ... but the unmarked clients are in no list, so their next connections are dealt again.
    expect(listsOf(pp, client(12))).toEqual([]);
    for (let round = 0; round < 2; round++) for (let n = 11; n <= 18; n++) openFrom(pp, client(n));
    const odd = pp.dynamicAddressList().filter((e) => e.list === "odd").length;
    const even = pp.dynamicAddressList().filter((e) => e.list === "even").length;
    expect([odd, even]).toEqual([6, 2]); // clients end up 3:1, not 1:1
  });

  it("fixed (errata remedy, second rule takes the rest): new clients alternate 1:1 and stay on their link", () => {
    const tables = seed001("fixed");
    const pp = new PacketPath(() => tables, { major: 6, world: new ProbeWorld() });
    const clients = [11, 12, 13, 14, 15, 16, 17, 18].map(client);
    const first = clients.map((c) => openFrom(pp, c).first);
    expect(first.map((r) => r.connectionMark)).toEqual([
      "odd",
      "even",
      "odd",
      "even",
      "odd",
      "even",
      "odd",
      "even",
    ]);
    expect(first.filter((r) => r.outInterface === "wlan2")).toHaveLength(4);
    expect(first.filter((r) => r.outInterface === "wlan1")).toHaveLength(4);
    expect(first[0]).toMatchObject({ routingTable: "odd", gateway: "10.111.0.1", srcNat: "10.111.0.2" });
    expect(first[1]).toMatchObject({ routingTable: "even", gateway: "10.112.0.1", srcNat: "10.112.0.2" });
    // Sticky: every later connection of a client, to anywhere, uses the client's first link.
    for (const [i, c] of clients.entries()) {
      for (const dst of ["1.1.1.1", "8.8.8.8", "203.0.113.9"]) {
        const r = openFrom(pp, c, dst).first;
        expect(r.outInterface).toBe(first[i].outInterface);
        expect(r.matchedRules[0]).toBe(first[i].connectionMark === "odd" ? "*A1" : "*A3");
      }
      expect(listsOf(pp, c)).toEqual([first[i].connectionMark]);
    }
    // Later packets of a connection keep their mark and link (routing mark re-derived every packet).
    const f = openFrom(pp, client(40));
    const reply = pp.packet(f, "reply");
    expect(reply).toMatchObject({
      outInterface: "Local",
      connectionState: "established",
      wire: { src: "93.184.216.34", dst: client(40) },
    });
    const again = pp.packet(f, "original");
    expect(again).toMatchObject({
      outInterface: f.first.outInterface,
      routingMark: f.connectionMark,
      connectionState: "established",
    });
    expect(again.sourceMismatch).toBeUndefined();
  });

  it("address-list entries expire after their timeout (1d), then the client is dealt again", () => {
    const tables = seed001("fixed");
    const pp = new PacketPath(() => tables, { major: 6, world: new ProbeWorld() });
    openFrom(pp, client(11));
    expect(pp.dynamicAddressList()).toEqual([{ list: "odd", address: client(11), expiresAt: 86_400_000 }]);
    pp.advance(86_400_000 - 1);
    expect(listsOf(pp, client(11))).toEqual(["odd"]);
    pp.advance(1);
    expect(pp.dynamicAddressList()).toEqual([]);
  });

  it("reproduces the seed's known flaw: simultaneous first connections put one client in both lists", () => {
    const tables = seed001("published");
    const pp = new PacketPath(() => tables, { major: 6, world: new ProbeWorld() });
    const burst = pp.openBurst(
      [1, 2, 3, 4].map((i) => ({ inInterface: "Local", src: client(50), dst: `198.51.100.${i}` })),
    );
    expect(burst.map((f) => f.first.connectionMark ?? "-")).toEqual(["odd", "-", "odd", "even"]);
    expect(listsOf(pp, client(50))).toEqual(["even", "odd"]);
    // Consequence: the "odd" rules run first, so the even connection is re-marked and moved to wlan2
    // mid-flight, still carrying the source it was masqueraded to on wlan1.
    const moved = pp.packet(burst[3], "original");
    expect(moved).toMatchObject({
      connectionMark: "odd",
      outInterface: "wlan2",
      rerouted: { from: "wlan1", to: "wlan2" },
    });
    expect(moved.wire.src).toBe("10.112.0.2");
    expect(moved.sourceMismatch).toBe(true);
  });

  it("the errata remedy (src-address-list=!odd) does not close that race", () => {
    const tables = seed001("remedy-only");
    const pp = new PacketPath(() => tables, { major: 6, world: new ProbeWorld() });
    pp.openBurst(
      [1, 2, 3, 4].map((i) => ({ inInterface: "Local", src: client(51), dst: `198.51.100.${i}` })),
    );
    expect(listsOf(pp, client(51))).toEqual(["even", "odd"]);
  });

  it("per-connection-classifier on the source address is sticky without lists, even for bursts", () => {
    const tables: RosTables = {
      ...seed001("fixed"),
      "/ip/firewall/mangle": [
        markConnection("*P1", "odd", {
          ...LAN,
          "connection-mark": "no-mark",
          "per-connection-classifier": "src-address:2/0",
        }),
        markConnection("*P2", "even", {
          ...LAN,
          "connection-mark": "no-mark",
          "per-connection-classifier": "src-address:2/1",
        }),
        markRouting("*P3", "odd", { ...LAN, "connection-mark": "odd" }),
        markRouting("*P4", "even", { ...LAN, "connection-mark": "even" }),
      ],
    };
    const pp = new PacketPath(() => tables, { major: 6, world: new ProbeWorld() });
    const marks = new Map<string, Set<string>>();
    for (let n = 10; n < 110; n++) {
      const flows = pp.openBurst(
        [1, 2, 3].map((i) => ({ inInterface: "Local", src: client(n), dst: `198.51.100.${i}` })),
      );
      marks.set(client(n), new Set(flows.map((f) => f.first.connectionMark as string)));
    }
    expect([...marks.values()].every((s) => s.size === 1)).toBe(true);
    const odd = [...marks.values()].filter((s) => s.has("odd")).length;
    expect(odd).toBeGreaterThan(35);
    expect(odd).toBeLessThan(65);
  });
});

// ----------------------------------------------------------------------------------------------------
// Seed 003: nth pool of 4 (weights 3:1) — per-rule counters
// ----------------------------------------------------------------------------------------------------

describe("nth counters (seed 003 trap)", () => {
  const tables = (shared: boolean): RosTables => {
    const slot = (id: string, packet: number, mark: string): Entry =>
      m(id, {
        chain: "prerouting",
        "in-interface": "Local",
        "connection-state": "new",
        ...(shared ? {} : { "connection-mark": "no-mark" }),
        nth: `4,${packet}`,
        action: "mark-connection",
        "new-connection-mark": mark,
        passthrough: shared ? "true" : "false",
      });
    return {
      "/ip/address": ADDRESSES,
      "/ip/firewall/mangle": [
        slot("*S1", 1, "link1"),
        slot("*S2", 2, "link2"),
        slot("*S3", 3, "link1"),
        slot("*S4", 4, "link1"),
      ],
      "/ip/route": [route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1" })],
    };
  };

  it("four rules nth=4,1..4,4 in a row, each only seeing unmarked packets, do not split 3:1", () => {
    const t = tables(false);
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    const marks = Array.from(
      { length: 16 },
      (_, i) => openFrom(pp, client(10 + i)).first.connectionMark ?? "-",
    );
    // Packet numbers 1..every per rule, counting only packets that reach the rule and match the rest:
    // S1 takes 1,5,9,13; S2 sees 12 and takes its 2nd,6th,10th; S3 sees 9 and takes 2; S4 sees 7, takes 1.
    expect(marks).toEqual([
      "link1",
      "-",
      "link2",
      "-",
      "link1",
      "link1",
      "-",
      "link2",
      "link1",
      "link1",
      "-",
      "link1",
      "link1",
      "link2",
      "-",
      "-",
    ]);
    expect(marks.filter((x) => x === "link1")).toHaveLength(7);
    expect(marks.filter((x) => x === "link2")).toHaveLength(3);
    expect(marks.filter((x) => x === "-")).toHaveLength(6);
  });

  it("the same four rules all seeing every new connection (passthrough, no mark test) give exactly 3:1", () => {
    const t = tables(true);
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    const marks = Array.from({ length: 16 }, (_, i) => openFrom(pp, client(10 + i)).first.connectionMark);
    expect(marks.slice(0, 4)).toEqual(["link1", "link2", "link1", "link1"]);
    expect(marks.filter((x) => x === "link1")).toHaveLength(12);
    expect(marks.filter((x) => x === "link2")).toHaveLength(4);
  });

  it("rejects the pre-3.0 nth syntax of seed 000", () => {
    const t: RosTables = {
      "/ip/address": ADDRESSES,
      "/ip/firewall/mangle": [
        m("*X", {
          chain: "prerouting",
          nth: "1,1,0",
          action: "mark-connection",
          "new-connection-mark": "odd",
        }),
      ],
    };
    const pp = new PacketPath(() => t, { major: 6, world: new ProbeWorld() });
    expect(() => openFrom(pp, client(10))).toThrow(/pre-3\.0/);
  });
});

// ----------------------------------------------------------------------------------------------------
// Recursive routes: upstream probing and failover (v7)
// ----------------------------------------------------------------------------------------------------

function recursiveV7(): RosTables {
  const rec = (id: string, gw: string, distance: string, table?: string): Entry =>
    route(id, {
      "dst-address": "0.0.0.0/0",
      gateway: gw,
      distance,
      "target-scope": "11",
      "check-gateway": "ping",
      ...(table ? { "routing-table": table } : {}),
    });
  return {
    "/ip/address": ADDRESSES,
    "/routing/table": [
      { ".id": "*T1", name: "to_wlan2", fib: "", disabled: "false" },
      { ".id": "*T2", name: "to_wlan1", fib: "", disabled: "false" },
    ],
    "/ip/route": [
      route("*H1", { "dst-address": "1.1.1.1/32", gateway: "10.111.0.1", scope: "10" }),
      route("*H2", { "dst-address": "9.9.9.9/32", gateway: "10.112.0.1", scope: "10" }),
      rec("*D1", "1.1.1.1", "1", "to_wlan2"),
      rec("*D2", "9.9.9.9", "2", "to_wlan2"),
      rec("*D3", "9.9.9.9", "1", "to_wlan1"),
      rec("*D4", "1.1.1.1", "2", "to_wlan1"),
      rec("*D5", "1.1.1.1", "1"),
      rec("*D6", "9.9.9.9", "2"),
    ],
    "/ip/firewall/mangle": [
      markConnection("*M1", "wlan2_conn", {
        ...LAN,
        "src-address": "192.168.0.0/25",
        "connection-mark": "no-mark",
      }),
      markConnection("*M2", "wlan1_conn", {
        ...LAN,
        "src-address": "192.168.0.128/25",
        "connection-mark": "no-mark",
      }),
      markRouting("*M3", "to_wlan2", { ...LAN, "connection-mark": "wlan2_conn" }),
      markRouting("*M4", "to_wlan1", { ...LAN, "connection-mark": "wlan1_conn" }),
    ],
    "/ip/firewall/nat": MASQUERADE,
  };
}

describe("recursive-route failover (v7, check-gateway=ping on the probe target)", () => {
  it("probes the upstream target via the ISP gateway; after 2 misses (20 s) marked traffic fails over, and returns after 1 answer", () => {
    const tables = recursiveV7();
    const world = new ProbeWorld();
    const pp = new PacketPath(() => tables, { major: 7, world });
    const before = openFrom(pp, client(10)).first;
    expect(before).toMatchObject({
      connectionMark: "wlan2_conn",
      routingTable: "to_wlan2",
      outInterface: "wlan2",
      gateway: "10.111.0.1",
      srcNat: "10.111.0.2",
    });

    world.kill("1.1.1.1");
    pp.advance(10_000);
    expect(world.probes).toContainEqual({
      target: "1.1.1.1",
      via: { gateway: "10.111.0.1", interface: "wlan2" },
    });
    expect(openFrom(pp, client(11)).first.outInterface).toBe("wlan2"); // one miss: still up
    pp.advance(10_000);
    expect(pp.routes().find((r) => r.key === "*D1")?.active).toBe(false);
    const during = openFrom(pp, client(12)).first;
    expect(during).toMatchObject({
      connectionMark: "wlan2_conn",
      routingTable: "to_wlan2",
      outInterface: "wlan1",
      gateway: "10.112.0.1",
      srcNat: "10.112.0.2",
    });
    // The router's own (unmarked) traffic fails over in main too.
    expect(pp.lookup("8.8.8.8")).toMatchObject({ outInterface: "wlan1", routingTable: "main" });
    // The other link's clients are unaffected.
    expect(openFrom(pp, client(200)).first).toMatchObject({
      outInterface: "wlan1",
      routingTable: "to_wlan1",
    });

    world.revive("1.1.1.1");
    pp.advance(10_000);
    expect(openFrom(pp, client(13)).first).toMatchObject({
      outInterface: "wlan2",
      gateway: "10.111.0.1",
      srcNat: "10.111.0.2",
    });
  });

  it("a connection established on the dead link is moved but keeps its old NAT source (reported)", () => {
    const tables = recursiveV7();
    const world = new ProbeWorld();
    const pp = new PacketPath(() => tables, { major: 7, world, checkGateway: "instant" });
    const f = openFrom(pp, client(10));
    pp.packet(f, "reply");
    world.kill("1.1.1.1"); // instant mode: no probe delay
    const r = pp.packet(f, "original");
    expect(r).toMatchObject({
      outInterface: "wlan1",
      rerouted: { from: "wlan2", to: "wlan1" },
      sourceMismatch: true,
    });
    expect(r.wire.src).toBe("10.111.0.2");
  });

  it("a probe target that only dies behind one gateway does not affect the other", () => {
    const tables = recursiveV7();
    const world = new ProbeWorld();
    const pp = new PacketPath(() => tables, { major: 7, world, checkGateway: "instant" });
    world.kill("9.9.9.9", "10.112.0.1");
    expect(openFrom(pp, client(200)).first).toMatchObject({
      routingTable: "to_wlan1",
      outInterface: "wlan2",
    });
    expect(openFrom(pp, client(10)).first).toMatchObject({ routingTable: "to_wlan2", outInterface: "wlan2" });
  });
});

// ----------------------------------------------------------------------------------------------------
// Traffic to the router and to LANs (v7 lock-out hazard)
// ----------------------------------------------------------------------------------------------------

describe("traffic to the router itself and to other LANs", () => {
  const base = (major: 6 | 7, mangle: Entry[]): RosTables => ({
    "/ip/address": [
      ...ADDRESSES,
      {
        ".id": "*4",
        address: "192.168.1.1/24",
        network: "192.168.1.0",
        interface: "Guest",
        disabled: "false",
      },
    ],
    "/routing/table": [{ ".id": "*T1", name: "to_wlan2", fib: "" }],
    "/ip/route": [
      route("*R1", {
        "dst-address": "0.0.0.0/0",
        gateway: "10.111.0.1",
        ...(major === 7 ? { "routing-table": "to_wlan2" } : { "routing-mark": "to_wlan2" }),
      }),
      route("*R2", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1" }),
    ],
    "/ip/firewall/address-list": [
      { ".id": "*L1", list: "LAN", address: "192.168.0.0/16", disabled: "false", dynamic: "false" },
    ],
    "/ip/firewall/mangle": mangle,
  });
  const naive = [markRouting("*X1", "to_wlan2", LAN)];
  const safe = [
    markRouting("*X1", "to_wlan2", { ...LAN, "dst-address-type": "!local", "dst-address-list": "!LAN" }),
  ];

  it("v7: a naive mark sends traffic for the router's own address out of the uplink (lock-out)", () => {
    const t = base(7, naive);
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    const winbox = openFrom(pp, client(10), "192.168.0.1", 8291).first;
    expect(winbox).toMatchObject({
      matchedRules: ["*X1"],
      routingMark: "to_wlan2",
      outInterface: "wlan2",
      gateway: "10.111.0.1",
    });
    expect(openFrom(pp, client(10), "192.168.1.20").first).toMatchObject({
      outInterface: "wlan2",
      routingTable: "to_wlan2",
    });
  });

  it("v6: the same naive mark still delivers the router's own address locally, but LAN-to-LAN leaks out", () => {
    const t = base(6, naive);
    const pp = new PacketPath(() => t, { major: 6, world: new ProbeWorld() });
    expect(openFrom(pp, client(10), "192.168.0.1", 8291).first).toMatchObject({
      routingMark: "to_wlan2",
      outInterface: "local",
    });
    expect(openFrom(pp, client(10), "192.168.1.20").first).toMatchObject({ outInterface: "wlan2" });
  });

  it.each([6, 7] as const)(
    "v%i: dst-address-type=!local and dst-address-list=!LAN leave router and LAN traffic unmarked",
    (major) => {
      const t = base(major, safe);
      const pp = new PacketPath(() => t, { major, world: new ProbeWorld() });
      const toRouter = openFrom(pp, client(10), "192.168.0.1", 8291).first;
      expect(toRouter).toMatchObject({ outInterface: "local", matchedRules: [] });
      expect(toRouter.routingMark).toBeUndefined();
      // The router's uplink addresses are local too.
      expect(openFrom(pp, client(10), "10.112.0.2", 22).first).toMatchObject({
        outInterface: "local",
        matchedRules: [],
      });
      expect(openFrom(pp, client(10), "192.168.1.20").first).toMatchObject({
        outInterface: "Guest",
        routingTable: "main",
        matchedRules: [],
      });
      expect(openFrom(pp, client(10), "8.8.8.8").first).toMatchObject({
        outInterface: "wlan2",
        routingTable: "to_wlan2",
        matchedRules: ["*X1"],
      });
    },
  );
});

// ----------------------------------------------------------------------------------------------------
// Seed 002: ECMP, connections to the router, route cache (v6 and v7)
// ----------------------------------------------------------------------------------------------------

describe("connections to the router via an uplink (seed 002, corrected)", () => {
  const tables = (withOutputMarks: boolean): RosTables => ({
    "/ip/address": ADDRESSES,
    "/routing/table": [
      { ".id": "*T1", name: "to_wlan1", fib: "" },
      { ".id": "*T2", name: "to_wlan2", fib: "" },
    ],
    "/ip/route": [
      route("*E1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1", "check-gateway": "ping" }),
      route("*E2", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1", "check-gateway": "ping" }),
      route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1", "routing-table": "to_wlan1" }),
      route("*R2", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1", "routing-table": "to_wlan2" }),
    ],
    "/ip/firewall/nat": MASQUERADE,
    "/ip/firewall/mangle": [
      markConnection("*I1", "wlan1_conn", { chain: "input", "in-interface": "wlan1" }),
      markConnection("*I2", "wlan2_conn", { chain: "input", "in-interface": "wlan2" }),
      ...(withOutputMarks
        ? [
            markRouting("*O1", "to_wlan1", { chain: "output", "connection-mark": "wlan1_conn" }, "true"),
            markRouting("*O2", "to_wlan2", { chain: "output", "connection-mark": "wlan2_conn" }, "true"),
          ]
        : []),
    ],
  });

  it("with input connection marks and output routing marks, replies leave by the uplink they came in on", () => {
    const t = tables(true);
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    for (let i = 1; i <= 20; i++) {
      const remote = `203.0.113.${i}`;
      const in1 = pp.open({
        inInterface: "wlan1",
        src: remote,
        dst: "10.112.0.2",
        protocol: "tcp",
        dstPort: 22,
      });
      expect(in1.first).toMatchObject({
        outInterface: "local",
        connectionMark: "wlan1_conn",
        matchedRules: ["*I1"],
      });
      expect(in1.destinedToRouter).toBe(true);
      const r1 = pp.packet(in1, "reply");
      expect(r1).toMatchObject({
        outInterface: "wlan1",
        gateway: "10.112.0.1",
        routingMark: "to_wlan1",
        routingTable: "to_wlan1",
        wire: { src: "10.112.0.2", dst: remote },
      });
      expect(r1.path).toEqual([
        "routing:main",
        "mangle:output",
        "nat:dstnat",
        "reroute:to_wlan1",
        "mangle:postrouting",
        "nat:srcnat",
      ]);
      const in2 = pp.open({
        inInterface: "wlan2",
        src: remote,
        dst: "10.111.0.2",
        protocol: "tcp",
        dstPort: 22,
      });
      expect(pp.packet(in2, "reply")).toMatchObject({
        outInterface: "wlan2",
        gateway: "10.111.0.1",
        wire: { src: "10.111.0.2" },
      });
    }
  });

  it("without the output marks, some replies take the other ECMP gateway with the wrong source", () => {
    const t = tables(false);
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    const replies = Array.from({ length: 20 }, (_, i) => {
      const f = pp.open({
        inInterface: "wlan1",
        src: `203.0.113.${i + 1}`,
        dst: "10.112.0.2",
        protocol: "tcp",
        dstPort: 22,
      });
      return pp.packet(f, "reply");
    });
    const wrong = replies.filter((r) => r.outInterface === "wlan2");
    expect(wrong.length).toBeGreaterThan(0);
    expect(wrong.every((r) => r.sourceMismatch === true && r.wire.src === "10.112.0.2")).toBe(true);
  });
});

describe("ECMP gateways and the v6 route cache (seed 002)", () => {
  const v6: RosTables = {
    "/ip/address": ADDRESSES,
    "/ip/route": [
      route("*E", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1,10.112.0.1", "check-gateway": "ping" }),
    ],
    "/ip/firewall/nat": MASQUERADE,
  };

  it("spreads (src,dst) pairs over both gateways and keeps a pair on one gateway between flushes", () => {
    const pp = new PacketPath(() => v6, { major: 6, world: new ProbeWorld() });
    const flows = Array.from({ length: 60 }, (_, i) => openFrom(pp, client(10 + i)));
    const viaWlan2 = flows.filter((f) => f.first.outInterface === "wlan2").length;
    expect(viaWlan2).toBeGreaterThan(15);
    expect(viaWlan2).toBeLessThan(45);
    for (const f of flows) {
      expect(f.first.srcNat).toBe(f.first.outInterface === "wlan2" ? "10.111.0.2" : "10.112.0.2");
      expect(pp.packet(f, "original").rerouted).toBeUndefined();
    }
  });

  it("weights a repeated gateway (1:5)", () => {
    const t: RosTables = {
      ...v6,
      "/ip/route": [
        route("*E", {
          "dst-address": "0.0.0.0/0",
          gateway: "10.111.0.1,10.112.0.1,10.112.0.1,10.112.0.1,10.112.0.1,10.112.0.1",
        }),
      ],
    };
    const pp = new PacketPath(() => t, { major: 6, world: new ProbeWorld() });
    let wlan1 = 0;
    for (let i = 0; i < 600; i++)
      if (pp.lookup(`198.51.${i >> 8}.${i & 255}`, { src: client(10) }).outInterface === "wlan1") wlan1++;
    expect(wlan1 / 600).toBeGreaterThan(0.75);
    expect(wlan1 / 600).toBeLessThan(0.92);
  });

  it("v6: the 10-minute route-cache flush moves unmarked masqueraded connections, which then carry the wrong source", () => {
    const pp = new PacketPath(() => v6, { major: 6, world: new ProbeWorld() });
    const flows = Array.from({ length: 40 }, (_, i) => openFrom(pp, client(10 + i)));
    pp.advance(10 * 60_000);
    const after = flows.map((f) => pp.packet(f, "original"));
    const moved = after.filter((r) => r.rerouted);
    expect(moved.length).toBeGreaterThan(5);
    for (const r of moved) {
      expect(r.sourceMismatch).toBe(true);
      expect(r.srcNat).not.toBe(r.outInterface === "wlan2" ? "10.111.0.2" : "10.112.0.2");
    }
    expect(after.filter((r) => !r.rerouted).every((r) => r.sourceMismatch === undefined)).toBe(true);
  });

  it("v6: a failing gateway (2 missed probes) removes it from the ECMP set; its connections move", () => {
    const world = new ProbeWorld();
    const pp = new PacketPath(() => v6, { major: 6, world });
    const flows = Array.from({ length: 20 }, (_, i) => openFrom(pp, client(10 + i)));
    world.kill("10.111.0.1");
    pp.advance(20_000);
    expect(pp.routes().find((r) => r.key === "*E")).toMatchObject({ active: true, gateways: ["10.112.0.1"] });
    const after = flows.map((f) => pp.packet(f, "original"));
    expect(after.every((r) => r.outInterface === "wlan1")).toBe(true);
    expect(after.filter((r) => r.sourceMismatch).length).toBe(
      flows.filter((f) => f.first.outInterface === "wlan2").length,
    );
  });

  it("v7 ECMP (two routes, same distance) has no route cache: nothing moves with time", () => {
    const t: RosTables = {
      ...v6,
      "/ip/route": [
        route("*E1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1", "check-gateway": "ping" }),
        route("*E2", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1", "check-gateway": "ping" }),
      ],
    };
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    const flows = Array.from({ length: 40 }, (_, i) => openFrom(pp, client(10 + i)));
    expect(new Set(flows.map((f) => f.first.outInterface))).toEqual(new Set(["wlan1", "wlan2"]));
    pp.advance(60 * 60_000);
    expect(flows.map((f) => pp.packet(f, "original")).filter((r) => r.rerouted)).toEqual([]);
  });

  it("v6: connections pinned by connection mark do not move when the cache is flushed", () => {
    const t: RosTables = {
      ...seed001("fixed"),
      "/ip/route": [...seed001("fixed")["/ip/route"], ...v6["/ip/route"]],
    };
    const pp = new PacketPath(() => t, { major: 6, world: new ProbeWorld() });
    const flows = Array.from({ length: 20 }, (_, i) => openFrom(pp, client(10 + i)));
    pp.advance(30 * 60_000);
    expect(flows.map((f) => pp.packet(f, "original")).filter((r) => r.rerouted || r.sourceMismatch)).toEqual(
      [],
    );
  });
});

// ----------------------------------------------------------------------------------------------------
// v6 routing-mark versus v7 routing-table; tables without fib
// ----------------------------------------------------------------------------------------------------

describe("route tables: v6 routing-mark, v7 routing-table + /routing/table fib", () => {
  const mangle = [markRouting("*M1", "to_wlan1", LAN)];
  const main = route("*R0", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1" });
  const v6Tables: RosTables = {
    "/ip/address": ADDRESSES,
    "/ip/firewall/mangle": mangle,
    "/ip/route": [
      main,
      route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1", "routing-mark": "to_wlan1" }),
    ],
  };
  const v7Tables = (fib: boolean): RosTables => ({
    "/ip/address": ADDRESSES,
    "/ip/firewall/mangle": mangle,
    "/routing/table": [{ ".id": "*T1", name: "to_wlan1", ...(fib ? { fib: "" } : {}), disabled: "false" }],
    "/ip/route": [
      main,
      route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1", "routing-table": "to_wlan1" }),
    ],
  });

  it("v6 uses routing-mark on the route", () => {
    const pp = new PacketPath(() => v6Tables, { major: 6, world: new ProbeWorld() });
    expect(openFrom(pp, client(10)).first).toMatchObject({
      routingMark: "to_wlan1",
      routingTable: "to_wlan1",
      outInterface: "wlan1",
    });
  });

  it("v7 rejects routing-mark on a route and uses routing-table", () => {
    const bad = new PacketPath(() => v6Tables, { major: 7, world: new ProbeWorld() });
    expect(() => openFrom(bad, client(10))).toThrow(ConfigError);
    expect(() => openFrom(bad, client(10))).toThrow(/routing-table/);
    const pp = new PacketPath(() => v7Tables(true), { major: 7, world: new ProbeWorld() });
    expect(openFrom(pp, client(10)).first).toMatchObject({
      routingMark: "to_wlan1",
      routingTable: "to_wlan1",
      outInterface: "wlan1",
      gateway: "10.112.0.1",
    });
  });

  it("v7: a table without fib is not used for forwarding; the marked packet is routed by main", () => {
    const pp = new PacketPath(() => v7Tables(false), { major: 7, world: new ProbeWorld() });
    expect(openFrom(pp, client(10)).first).toMatchObject({
      routingMark: "to_wlan1",
      requestedTable: "to_wlan1",
      routingTable: "main",
      outInterface: "wlan2",
    });
    const strict = new PacketPath(() => v7Tables(false), {
      major: 7,
      world: new ProbeWorld(),
      markedTableFallback: "none",
    });
    expect(openFrom(strict, client(10)).first).toMatchObject({ dropped: true, outInterface: "drop" });
  });

  it("v7: a mark or a route naming a table missing from /routing/table is a configuration error", () => {
    const noTable = { ...v7Tables(true), "/routing/table": [] };
    const pp = new PacketPath(() => noTable, { major: 7, world: new ProbeWorld() });
    expect(() => openFrom(pp, client(10))).toThrow(/\/routing\/table/);
  });

  it("v6: a marked table whose route is inactive falls back to main", () => {
    const t: RosTables = {
      ...v6Tables,
      "/ip/route": [
        main,
        route("*R1", {
          "dst-address": "0.0.0.0/0",
          gateway: "10.112.0.1",
          "routing-mark": "to_wlan1",
          "check-gateway": "ping",
        }),
      ],
    };
    const world = new ProbeWorld();
    const pp = new PacketPath(() => t, { major: 6, world, checkGateway: "instant" });
    world.kill("10.112.0.1");
    expect(openFrom(pp, client(10)).first).toMatchObject({
      requestedTable: "to_wlan1",
      routingTable: "main",
      outInterface: "wlan2",
    });
  });

  it("routing rules: lookup falls through on a miss, lookup-only-in-table does not", () => {
    const rules = (action: string): RosTables => ({
      "/ip/address": ADDRESSES,
      "/routing/table": [{ ".id": "*T1", name: "only_probe", fib: "" }],
      "/ip/route": [
        main,
        route("*R1", { "dst-address": "9.9.9.9/32", gateway: "10.112.0.1", "routing-table": "only_probe" }),
      ],
      "/routing/rule": [
        { ".id": "*U1", "src-address": "192.168.0.0/24", action, table: "only_probe", disabled: "false" },
      ],
    });
    const lookup = new PacketPath(() => rules("lookup"), { major: 7, world: new ProbeWorld() });
    expect(openFrom(lookup, client(10), "9.9.9.9").first).toMatchObject({
      routingTable: "only_probe",
      outInterface: "wlan1",
    });
    expect(openFrom(lookup, client(10), "8.8.8.8").first).toMatchObject({
      routingTable: "main",
      outInterface: "wlan2",
    });
    const only = new PacketPath(() => rules("lookup-only-in-table"), { major: 7, world: new ProbeWorld() });
    expect(openFrom(only, client(10), "8.8.8.8").first).toMatchObject({ dropped: true });
  });
});

// ----------------------------------------------------------------------------------------------------
// NAT
// ----------------------------------------------------------------------------------------------------

describe("NAT", () => {
  it("masquerade takes the out-interface's address; replies are translated back", () => {
    const t: RosTables = {
      "/ip/address": [
        ...ADDRESSES,
        { ".id": "*5", address: "10.112.0.7/24", network: "10.112.0.0", interface: "wlan1" },
      ],
      "/ip/route": [
        route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1" }),
        route("*R2", { "dst-address": "198.51.100.0/24", gateway: "10.112.0.1" }),
      ],
      "/ip/firewall/nat": MASQUERADE,
    };
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    const a = openFrom(pp, client(10), "8.8.8.8");
    expect(a.first).toMatchObject({
      outInterface: "wlan2",
      srcNat: "10.111.0.2",
      wire: { src: "10.111.0.2", dst: "8.8.8.8" },
      matchedRules: ["*N2"],
    });
    const b = openFrom(pp, client(10), "198.51.100.5");
    expect(b.first).toMatchObject({
      outInterface: "wlan1",
      srcNat: "10.112.0.2",
      wire: { src: "10.112.0.2" },
      matchedRules: ["*N1"],
    });
    expect(pp.packet(b, "reply")).toMatchObject({
      outInterface: "Local",
      wire: { src: "198.51.100.5", dst: client(10), dstPort: b.original.srcPort },
    });
    // NAT rules only see the first packet; conntrack translates the rest.
    expect(pp.packet(b, "original")).toMatchObject({ matchedRules: [], wire: { src: "10.112.0.2" } });
  });

  it("src-nat to-addresses (seed 000) uses the fixed address chosen by connection mark", () => {
    const t: RosTables = {
      "/ip/address": ADDRESSES,
      "/ip/route": [
        route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1", "routing-mark": "odd" }),
        route("*R2", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1" }),
      ],
      "/ip/firewall/mangle": [
        markConnection("*M1", "odd", { ...LAN, "src-address": "192.168.0.10" }),
        markRouting("*M2", "odd", { ...LAN, "connection-mark": "odd" }),
      ],
      "/ip/firewall/nat": [
        {
          ".id": "*S1",
          chain: "srcnat",
          "connection-mark": "odd",
          action: "src-nat",
          "to-addresses": "10.111.0.2",
          "to-ports": "0-65535",
        },
        {
          ".id": "*S2",
          chain: "srcnat",
          "connection-mark": "even",
          action: "src-nat",
          "to-addresses": "10.112.0.2",
          "to-ports": "0-65535",
        },
      ],
    };
    const pp = new PacketPath(() => t, { major: 6, world: new ProbeWorld() });
    const f = openFrom(pp, client(10));
    expect(f.first).toMatchObject({
      outInterface: "wlan2",
      srcNat: "10.111.0.2",
      matchedRules: ["*M1", "*M2", "*S1"],
    });
    expect(f.srcNat).toEqual({ address: "10.111.0.2", port: f.original.srcPort });
    // An unmarked client matches no src-nat rule and leaves with its private address.
    const g = openFrom(pp, client(11)).first;
    expect(g).toMatchObject({ outInterface: "wlan1", wire: { src: client(11) } });
    expect(g.srcNat).toBeUndefined();
  });

  it("dst-nat port forward: the reply follows main, not the uplink the request came in on", () => {
    const t: RosTables = {
      "/ip/address": ADDRESSES,
      "/ip/route": [route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1" })],
      "/ip/firewall/nat": [
        {
          ".id": "*F1",
          chain: "dstnat",
          "in-interface": "wlan1",
          protocol: "tcp",
          "dst-port": "8080",
          action: "dst-nat",
          "to-addresses": "192.168.0.50",
          "to-ports": "80",
        },
        ...MASQUERADE,
      ],
    };
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    const f = pp.open({
      inInterface: "wlan1",
      src: "203.0.113.7",
      dst: "10.112.0.2",
      protocol: "tcp",
      dstPort: 8080,
    });
    expect(f.first).toMatchObject({
      outInterface: "Local",
      dstNat: "192.168.0.50",
      wire: { dst: "192.168.0.50", dstPort: 80 },
      matchedRules: ["*F1"],
    });
    const reply = pp.packet(f, "reply");
    expect(reply).toMatchObject({
      outInterface: "wlan2",
      wire: { src: "10.112.0.2", srcPort: 8080, dst: "203.0.113.7" },
      sourceMismatch: true,
    });
  });

  it("router-originated traffic takes its source from the first route lookup, before output marks re-route it", () => {
    const t: RosTables = {
      "/ip/address": ADDRESSES,
      "/routing/table": [{ ".id": "*T1", name: "to_wlan1", fib: "" }],
      "/ip/route": [
        route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1" }),
        route("*R2", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1", "routing-table": "to_wlan1" }),
      ],
      "/ip/firewall/mangle": [
        markRouting("*O1", "to_wlan1", { chain: "output", protocol: "udp", "dst-port": "53" }),
      ],
      "/ip/firewall/nat": MASQUERADE,
    };
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    const dns = pp.open({ inInterface: "router", dst: "10.112.0.53", protocol: "udp", dstPort: 53 });
    // The first lookup finds the connected network on wlan1, so the source is wlan1's address.
    expect(dns.first).toMatchObject({ outInterface: "wlan1", wire: { src: "10.112.0.2" } });
    const remote = pp.open({ inInterface: "router", dst: "9.9.9.9", protocol: "udp", dstPort: 53 });
    expect(remote.original.src).toBe("10.111.0.2");
    expect(remote.first).toMatchObject({
      routingTable: "to_wlan1",
      outInterface: "wlan1",
      srcNat: "10.112.0.2",
      wire: { src: "10.112.0.2" },
    });
  });
});

// ----------------------------------------------------------------------------------------------------
// Matchers, chains, links, netwatch
// ----------------------------------------------------------------------------------------------------

describe("matchers and chains", () => {
  const t: RosTables = {
    "/ip/address": ADDRESSES,
    "/interface/list/member": [
      { ".id": "*I1", list: "WAN", interface: "wlan1" },
      { ".id": "*I2", list: "WAN", interface: "wlan2" },
    ],
    "/ip/route": [route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1" })],
    "/ip/firewall/mangle": [
      m("*J0", { chain: "prerouting", action: "mark-packet", "new-packet-mark": "never", disabled: "true" }),
      m("*J1", { chain: "prerouting", "in-interface-list": "!WAN", action: "jump", "jump-target": "lan" }),
      m("*J2", { chain: "lan", "src-address": "192.168.0.100-192.168.0.199", action: "return" }),
      m("*J3", {
        chain: "lan",
        protocol: "udp",
        "dst-port": "53,123",
        action: "mark-packet",
        "new-packet-mark": "infra",
      }),
      m("*J4", {
        chain: "lan",
        protocol: "tcp",
        "dst-port": "!80",
        action: "mark-packet",
        "new-packet-mark": "bulk",
        passthrough: "false",
      }),
      markConnection("*J5", "seen", { chain: "prerouting" }),
      m("*J6", { chain: "forward", "out-interface-list": "WAN", action: "passthrough" }),
    ],
  };
  const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });

  it("jumps to a custom chain, returns from it, and stops at a non-passthrough mark", () => {
    const dns = pp.open({
      inInterface: "Local",
      src: client(10),
      dst: "9.9.9.9",
      protocol: "udp",
      dstPort: 53,
    }).first;
    // No passthrough printed: the default (yes) continues after *J3, back in prerouting to *J5.
    expect(dns).toMatchObject({
      packetMark: "infra",
      connectionMark: "seen",
      matchedRules: ["*J1", "*J3", "*J5", "*J6"],
    });
    const web = pp.open({
      inInterface: "Local",
      src: client(10),
      dst: "9.9.9.9",
      protocol: "tcp",
      dstPort: 80,
    }).first;
    expect(web.matchedRules).toEqual(["*J1", "*J5", "*J6"]);
    const ssh = pp.open({
      inInterface: "Local",
      src: client(10),
      dst: "9.9.9.9",
      protocol: "tcp",
      dstPort: 22,
    }).first;
    expect(ssh.matchedRules).toEqual(["*J1", "*J4", "*J6"]); // passthrough=false ends prerouting
    expect(ssh.connectionMark).toBeUndefined();
    const ranged = pp.open({
      inInterface: "Local",
      src: client(150),
      dst: "9.9.9.9",
      protocol: "tcp",
      dstPort: 22,
    });
    expect(ranged.first.matchedRules).toEqual(["*J1", "*J2", "*J5", "*J6"]);
    const inbound = pp.open({
      inInterface: "wlan2",
      src: "203.0.113.1",
      dst: "10.111.0.2",
      protocol: "tcp",
      dstPort: 22,
    });
    expect(inbound.first.matchedRules).toEqual(["*J5"]);
  });

  it("rejects matchers it does not model instead of ignoring them", () => {
    const odd: RosTables = {
      ...t,
      "/ip/firewall/mangle": [m("*Z", { chain: "prerouting", "tcp-flags": "syn", action: "accept" })],
    };
    const strict = new PacketPath(() => odd, { major: 7, world: new ProbeWorld() });
    expect(() => openFrom(strict, client(10))).toThrow(/tcp-flags/);
  });
});

describe("links and netwatch", () => {
  const t: RosTables = {
    "/ip/address": ADDRESSES,
    "/ip/route": [
      route("*R1", { "dst-address": "0.0.0.0/0", gateway: "10.111.0.1", distance: "1" }),
      route("*R2", { "dst-address": "0.0.0.0/0", gateway: "10.112.0.1", distance: "2" }),
    ],
    "/tool/netwatch": [
      { ".id": "*W1", host: "10.111.0.1", interval: "10s", timeout: "1s", disabled: "false" },
    ],
  };

  it("an interface going down deactivates its connected route and the routes through it", () => {
    const pp = new PacketPath(() => t, { major: 7, world: new ProbeWorld() });
    expect(pp.lookup("8.8.8.8")).toMatchObject({ outInterface: "wlan2", gateway: "10.111.0.1" });
    pp.setInterfaceUp("wlan2", false);
    expect(pp.lookup("8.8.8.8")).toMatchObject({ outInterface: "wlan1", gateway: "10.112.0.1" });
    expect(pp.routes().find((r) => r.key === "*R1")?.active).toBe(false);
    pp.setInterfaceUp("wlan2", true);
    expect(pp.lookup("8.8.8.8").outInterface).toBe("wlan2");
  });

  it("netwatch tests again `interval` after a test ends; an unanswered test fails after `timeout`", () => {
    const world = new ProbeWorld();
    const pp = new PacketPath(() => t, { major: 7, world });
    expect(pp.netwatch()).toEqual([{ host: "10.111.0.1", status: "up" }]);
    world.kill("10.111.0.1");
    pp.advance(9_999);
    expect(pp.netwatch()[0].status).toBe("up");
    // the test starting at 10 s gets no answer: down when its 1 s timeout runs out
    pp.advance(1_000);
    expect(pp.netwatch()[0].status).toBe("up");
    pp.advance(1);
    expect(pp.netwatch()[0].status).toBe("down");
    // next test at 11 s + 10 s
    world.revive("10.111.0.1");
    pp.advance(9_999);
    expect(pp.netwatch()[0].status).toBe("down");
    pp.advance(1);
    expect(pp.netwatch()[0].status).toBe("up");
  });
});
