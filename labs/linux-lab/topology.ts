/**
 * The lab's address plan and the iproute2 batches that build it. Pure functions: nothing here touches
 * the system, so the plan is unit-tested without root (test/linux-lab/topology.test.ts).
 *
 *   root ns ──(mgmt /30, 169.254.A.B)── gw ──lan0── lan (clients 192.168.0.10..)
 *                                       │
 *                     wan1 10.111.0.2 ──┼── isp1 ──┐
 *                     wan2 10.112.0.2 ──┼── isp2 ──┼── inet (198.51.100.1 server, 198.51.100.2 client,
 *                     wanK 10.(110+K).0.2 ─ ispK ──┘        203.0.113.K probe target of ISP K only)
 *
 * Addresses reuse the seeds' plan (LAN 192.168.0.0/24, uplinks 10.11x.0.0/24) inside the namespaces only.
 */

/** Benchmarks need 2, 4, 8 and 16 uplinks; 16 keeps uplink networks at 10.111..10.126. */
export const MIN_UPLINKS = 2;
export const MAX_UPLINKS = 16;
/** Clients are 192.168.0.10 .. 192.168.0.249 on the LAN /24 (the gateway is .1). */
export const MAX_CLIENTS = 240;
export const DEFAULT_UPLINKS = 2;
export const DEFAULT_CLIENTS = 8;
/** Namespace and interface names start with this; the sweeper removes only names of this shape. */
export const LAB_PREFIX = "lbgw";
/** A lab id: 1..8 of [a-z0-9]; the random ones are 6 hex digits. Keeps `lbgw<id>m` within IFNAMSIZ (15). */
export const LAB_ID_RE = /^[a-z0-9]{1,8}$/;
/** Matches `lbgw-<id>-<role>` and captures the id. */
export const LAB_NS_RE = /^lbgw-([a-z0-9]{1,8})-(lan|gw|inet|isp\d{1,2})$/;

export type RpFilter = 0 | 1 | 2;

/** What the gateway looks like before the provider touches it. */
export interface GatewayInitialState {
  /** net.ipv4.ip_forward. Default true. */
  forwarding?: boolean;
  /**
   * net.ipv4.conf.{all,default,lo}.rp_filter (and so every interface). Default 2 (loose), what Debian 12,
   * Ubuntu and Fedora ship through systemd's 50-default.conf; RHEL-likes ship 1 (strict); the kernel's
   * own default is 0.
   */
  rpFilter?: RpFilter;
  /** net.ipv4.conf.{all,default}.src_valid_mark. Default false (the kernel's default). */
  srcValidMark?: boolean;
  /** Uplink index (1-based) of a pre-existing main-table default route, as DHCP would leave. Default none. */
  defaultRoute?: number;
  /** A ruleset applied with `nft -f` before the test starts (e.g. a distro firewall to leave alone). */
  nftRuleset?: string;
}

export interface UplinkPlan {
  /** 1-based uplink number K. */
  index: number;
  /** Gateway interface, `wanK`. */
  iface: string;
  /** Gateway address 10.(110+K).0.2. */
  address: string;
  prefixLen: number;
  /** ISP K's router on that link, 10.(110+K).0.1: the uplink's gateway and first hop. */
  gateway: string;
  /** 10.(110+K).0.0/24 */
  net: string;
  /** 203.0.113.K in inet: answers only what arrives through ISP K, beyond its first hop. */
  probeTarget: string;
  /** ISP K's side of its transit link to inet (100.64.K.1/30) and inet's side (100.64.K.2). */
  transitIsp: string;
  transitInet: string;
}

export interface LabPlan {
  id: string;
  /** `lbgw-<id>`: every namespace of the lab starts with `<name>-`. */
  name: string;
  ns: { lan: string; gw: string; isps: string[]; inet: string };
  lan: {
    net: string;
    gw: string;
    prefixLen: number;
    gwIface: string;
    clientIface: string;
    clients: string[];
  };
  uplinks: UplinkPlan[];
  mgmt: { rootIface: string; gwIface: string; rootAddress: string; gwAddress: string; net: string };
  /** TCP/ICMP server address in inet, reached through every ISP. */
  server: string;
  /** Source address of inbound test connections opened from inet. */
  inetClient: string;
  serverPort: number;
  sshPort: number;
}

export interface PlanOptions {
  id: string;
  uplinks: number;
  clients: number;
  /** Third octet A (1..254, not 169) and /30 block B (0..63) of the management link 169.254.A.(4B+1|2). */
  mgmtBlock: { a: number; b: number };
  serverPort: number;
  sshPort: number;
}

export function validateCounts(uplinks: number, clients: number): void {
  if (!Number.isInteger(uplinks) || uplinks < MIN_UPLINKS || uplinks > MAX_UPLINKS) {
    throw new RangeError(`uplinks must be an integer in ${MIN_UPLINKS}..${MAX_UPLINKS}, got ${uplinks}`);
  }
  if (!Number.isInteger(clients) || clients < 1 || clients > MAX_CLIENTS) {
    throw new RangeError(`clients must be an integer in 1..${MAX_CLIENTS}, got ${clients}`);
  }
}

export function planLab(o: PlanOptions): LabPlan {
  if (!LAB_ID_RE.test(o.id))
    throw new RangeError(`lab id must match ${LAB_ID_RE}, got ${JSON.stringify(o.id)}`);
  validateCounts(o.uplinks, o.clients);
  const { a, b } = o.mgmtBlock;
  if (!Number.isInteger(a) || a < 1 || a > 254 || a === 169 || !Number.isInteger(b) || b < 0 || b > 63) {
    throw new RangeError(`bad management block ${a}.${b}`);
  }
  const name = `${LAB_PREFIX}-${o.id}`;
  const uplinks: UplinkPlan[] = [];
  for (let k = 1; k <= o.uplinks; k++) {
    uplinks.push({
      index: k,
      iface: `wan${k}`,
      address: `10.${110 + k}.0.2`,
      prefixLen: 24,
      gateway: `10.${110 + k}.0.1`,
      net: `10.${110 + k}.0.0/24`,
      probeTarget: `203.0.113.${k}`,
      transitIsp: `100.64.${k}.1`,
      transitInet: `100.64.${k}.2`,
    });
  }
  return {
    id: o.id,
    name,
    ns: {
      lan: `${name}-lan`,
      gw: `${name}-gw`,
      isps: uplinks.map((u) => `${name}-isp${u.index}`),
      inet: `${name}-inet`,
    },
    lan: {
      net: "192.168.0.0/24",
      gw: "192.168.0.1",
      prefixLen: 24,
      gwIface: "lan0",
      clientIface: "eth0",
      clients: Array.from({ length: o.clients }, (_, i) => `192.168.0.${10 + i}`),
    },
    uplinks,
    mgmt: {
      rootIface: `${LAB_PREFIX}${o.id}m`,
      gwIface: "mgmt0",
      rootAddress: `169.254.${a}.${4 * b + 1}`,
      gwAddress: `169.254.${a}.${4 * b + 2}`,
      net: `169.254.${a}.${4 * b}/30`,
    },
    server: "198.51.100.1",
    inetClient: "198.51.100.2",
    serverPort: o.serverPort,
    sshPort: o.sshPort,
  };
}

export function allNamespaces(p: LabPlan): string[] {
  return [p.ns.lan, p.ns.gw, ...p.ns.isps, p.ns.inet];
}

/** Lines for `ip -batch -` in the root namespace: every veth pair, created directly in its namespaces. */
export function rootLinkBatch(p: LabPlan): string[] {
  const lines = [
    `link add name ${p.lan.gwIface} netns ${p.ns.gw} type veth peer name ${p.lan.clientIface} netns ${p.ns.lan}`,
  ];
  for (const u of p.uplinks) {
    const isp = p.ns.isps[u.index - 1];
    lines.push(`link add name ${u.iface} netns ${p.ns.gw} type veth peer name down0 netns ${isp}`);
    lines.push(`link add name up0 netns ${isp} type veth peer name isp${u.index} netns ${p.ns.inet}`);
  }
  lines.push(`link add name ${p.mgmt.rootIface} type veth peer name ${p.mgmt.gwIface} netns ${p.ns.gw}`);
  lines.push(`link set dev ${p.mgmt.rootIface} addrgenmode none`);
  lines.push(`addr add ${p.mgmt.rootAddress}/30 dev ${p.mgmt.rootIface}`);
  lines.push(`link set dev ${p.mgmt.rootIface} up`);
  return lines;
}

/**
 * The root side of the management link accepts only packets from the gateway's management address (and
 * ARP): anything else arriving there (say a LAN client or a NAT mistake aimed at the root's address) would
 * make the root namespace answer through its own default route, out of the lab. A netdev table is bound to
 * the device and does not touch the root namespace's other rules; destroy() deletes it.
 */
export function mgmtGuardRuleset(p: LabPlan): string {
  return [
    `table netdev ${mgmtGuardTable(p.id)} {`,
    `  chain mgmt_in {`,
    `    type filter hook ingress device "${p.mgmt.rootIface}" priority 0; policy drop;`,
    `    meta protocol arp accept`,
    `    ip saddr ${p.mgmt.gwAddress} accept`,
    `  }`,
    `}`,
    ``,
  ].join("\n");
}

export function mgmtGuardTable(id: string): string {
  return `${LAB_PREFIX}_${id}_mgmt`;
}

export type Role = "lan" | "gw" | "inet" | "isp";

function rpLines(value: number): string[] {
  return ["all", "default", "lo"].map((i) => `net.ipv4.conf.${i}.rp_filter=${value}`);
}

/**
 * sysctl assignments for a namespace, applied before its interfaces exist so that each new interface
 * takes the `default` values. New namespaces inherit IPv4 `all`/`default` values from the root namespace
 * (net.core.devconf_inherit_init_net=0), so everything is set explicitly. IPv6 is off: the lab is IPv4.
 */
export function sysctlsFor(role: Role, gw: GatewayInitialState): string[] {
  const common = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];
  switch (role) {
    case "gw": {
      const svm = gw.srcValidMark ? 1 : 0;
      return [
        ...common,
        `net.ipv4.ip_forward=${gw.forwarding === false ? 0 : 1}`,
        ...rpLines(gw.rpFilter ?? 2),
        `net.ipv4.conf.all.src_valid_mark=${svm}`,
        `net.ipv4.conf.default.src_valid_mark=${svm}`,
      ];
    }
    case "isp":
      return [...common, "net.ipv4.ip_forward=1", ...rpLines(0)];
    case "lan":
    case "inet":
      return [...common, "net.ipv4.ip_forward=0", ...rpLines(0)];
  }
}

/** `ip -n <gw> -batch -` lines: addresses, links up, and the optional pre-existing default route. */
export function gwBatch(p: LabPlan, gw: GatewayInitialState): string[] {
  const lines = [
    "link set dev lo up",
    `addr add ${p.lan.gw}/${p.lan.prefixLen} dev ${p.lan.gwIface}`,
    `link set dev ${p.lan.gwIface} up`,
  ];
  for (const u of p.uplinks) {
    lines.push(`addr add ${u.address}/${u.prefixLen} dev ${u.iface}`, `link set dev ${u.iface} up`);
  }
  lines.push(`addr add ${p.mgmt.gwAddress}/30 dev ${p.mgmt.gwIface}`, `link set dev ${p.mgmt.gwIface} up`);
  if (gw.defaultRoute !== undefined) {
    const u = p.uplinks[gw.defaultRoute - 1];
    if (!u) throw new RangeError(`gateway.defaultRoute ${gw.defaultRoute} is not an uplink of this lab`);
    lines.push(`route add default via ${u.gateway} dev ${u.iface}`);
  }
  return lines;
}

/** LAN host: every client address on one interface (secondaries of the /24), default route to the gateway. */
export function lanBatch(p: LabPlan): string[] {
  return [
    "link set dev lo up",
    ...p.lan.clients.map((c) => `addr add ${c}/${p.lan.prefixLen} dev ${p.lan.clientIface}`),
    `link set dev ${p.lan.clientIface} up`,
    `route add default via ${p.lan.gw} dev ${p.lan.clientIface}`,
  ];
}

/** ISP K: routes the gateway's uplink network (connected) and everything else to inet; no NAT. */
export function ispBatch(u: UplinkPlan): string[] {
  return [
    "link set dev lo up",
    `addr add ${u.gateway}/${u.prefixLen} dev down0`,
    "link set dev down0 up",
    `addr add ${u.transitIsp}/30 dev up0`,
    "link set dev up0 up",
    `route add default via ${u.transitInet} dev up0`,
  ];
}

/** Lines that make ISP K drop everything it would send towards inet (its upstream fails, its link stays up). */
export function ispUpstreamFailBatch(): string[] {
  return ["route replace blackhole default"];
}

export function ispUpstreamRestoreBatch(u: UplinkPlan): string[] {
  return [`route replace default via ${u.transitInet} dev up0`];
}

/**
 * inet: server, client and probe-target addresses on lo, a route back to each uplink network through its
 * ISP (no default route: nothing leaves the lab). Probe target 203.0.113.K is delivered only when it
 * arrives from ISP K: the `local` table moves from rule priority 0 to 100 so that rules 10 (ISP K's
 * interface to its own target: deliver) and 20 (any other way to 203.0.113.0/24: blackhole) come first.
 */
export function inetBatch(p: LabPlan): string[] {
  const lines = [
    "link set dev lo up",
    `addr add ${p.server}/32 dev lo`,
    `addr add ${p.inetClient}/32 dev lo`,
    ...p.uplinks.map((u) => `addr add ${u.probeTarget}/32 dev lo`),
  ];
  for (const u of p.uplinks) {
    lines.push(
      `addr add ${u.transitInet}/30 dev isp${u.index}`,
      `link set dev isp${u.index} up`,
      `route add ${u.net} via ${u.transitIsp} dev isp${u.index}`,
    );
  }
  lines.push("rule add pref 100 table local", "rule del pref 0 table local");
  for (const u of p.uplinks)
    lines.push(`rule add pref 10 iif isp${u.index} to ${u.probeTarget}/32 table local`);
  lines.push("rule add pref 20 to 203.0.113.0/24 blackhole");
  return lines;
}
