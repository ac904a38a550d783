/**
 * Compiles a printed configuration (`RosTables`) into the structures the evaluator works on. Everything
 * that depends only on the configuration lives here; state that outlives a snapshot (conntrack, dynamic
 * address lists, nth counters, check-gateway status) lives in `PacketPath`.
 */
import { compileRules, type CompiledRule } from "./firewall";
import type { RosTables } from "./types";
import {
  ConfigError,
  flag,
  intToIp,
  ipToInt,
  isIpv4,
  list,
  parseAddrRange,
  parseBool,
  parseDuration,
  prefixMask,
  type AddrRange,
} from "./values";

export interface IfAddress {
  address: number;
  prefix: number;
  /** Network of the connected route (for a /32 point-to-point address: the printed `network`). */
  network: number;
  connectedPrefix: number;
  broadcast?: number;
  interface: string;
}

export type GatewaySpec =
  | { kind: "ip"; ip: number; text: string; iface?: string; resolveTable?: string }
  | { kind: "iface"; iface: string; text: string };

export interface RouteEntry {
  /** `.id` or `route#<index>`: identifies the route's check-gateway state across snapshots. */
  key: string;
  table: string;
  dst: AddrRange & { prefix: number };
  /** In print order; a gateway repeated N times weighs N in v6 ECMP. */
  gateways: GatewaySpec[];
  distance: number;
  scope: number;
  targetScope: number;
  checkGateway?: "ping" | "arp" | "bfd";
  type: "unicast" | "blackhole" | "unreachable" | "prohibit";
  /** Implicit route of an `/ip/address` network. */
  connected?: { interface: string };
  prefSrc?: number;
  disabled: boolean;
}

export interface RoutingRule {
  id: string;
  src?: AddrRange;
  dst?: AddrRange;
  routingMark?: string;
  interface?: string;
  action: "lookup" | "lookup-only-in-table" | "drop" | "unreachable";
  table: string;
}

export interface NetwatchEntry {
  key: string;
  /** `.id` of the entry (scripts' `find` results are ids), when printed with one. */
  id?: string;
  host: string;
  /** Pause after a test ends before the next one starts (ms). */
  interval: number;
  /** A test without an answer fails after this long (ms). */
  timeout: number;
  type: string;
  srcAddress?: string;
  upScript?: string;
  downScript?: string;
  testScript?: string;
}

export interface Config {
  major: 6 | 7;
  addresses: IfAddress[];
  /** The router's own addresses (dst-address-type=local, local delivery). */
  local: Set<number>;
  broadcast: Set<number>;
  mangle: CompiledRule[];
  nat: CompiledRule[];
  staticLists: Map<string, AddrRange[]>;
  interfaceLists: Map<string, Set<string>>;
  routes: RouteEntry[];
  /** v7: `/routing/table` names to their `fib` flag (main is implicit). v6: tables named by routing marks. */
  tables: Map<string, { fib: boolean }>;
  routingRules: RoutingRule[];
  checkGatewayInterval: number;
  checkGatewayCount: number;
  netwatch: NetwatchEntry[];
}

export interface CompileOptions {
  major: 6 | 7;
  unsupportedMatchers: "throw" | "ignore";
}

function rows(tables: RosTables, menu: string): Array<Record<string, string>> {
  return tables[menu] ?? [];
}

function enabled(entry: Record<string, string>): boolean {
  return !flag(entry, "disabled") && !flag(entry, "invalid");
}

function intProp(entry: Record<string, string>, name: string, dflt: number): number {
  const v = entry[name];
  if (v === undefined || v === "") return dflt;
  if (!/^\d+$/.test(v)) throw new ConfigError(`${name}=${v} is not a number`);
  return Number(v);
}

function compileAddresses(tables: RosTables): IfAddress[] {
  const out: IfAddress[] = [];
  for (const e of rows(tables, "/ip/address")) {
    if (!enabled(e)) continue;
    const text = e.address;
    const iface = e.interface;
    if (!text || !iface)
      throw new ConfigError(`/ip/address entry without address or interface: ${JSON.stringify(e)}`);
    const [addrText, prefixText] = text.split("/");
    const address = ipToInt(addrText);
    const prefix = prefixText === undefined ? 32 : Number(prefixText);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32)
      throw new ConfigError(`bad address "${text}"`);
    let network = (address & prefixMask(prefix)) >>> 0;
    let connectedPrefix = prefix;
    if (prefix === 32 && e.network && isIpv4(e.network) && ipToInt(e.network) !== address) {
      network = ipToInt(e.network); // point-to-point: the connected route is the peer
      connectedPrefix = 32;
    }
    const broadcast = prefix < 31 ? (network | ~prefixMask(prefix)) >>> 0 : undefined;
    out.push({ address, prefix, network, connectedPrefix, broadcast, interface: iface });
  }
  return out;
}

function parseGateway(text: string): GatewaySpec {
  let rest = text.trim();
  let resolveTable: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    resolveTable = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let iface: string | undefined;
  const pct = rest.indexOf("%");
  if (pct >= 0) {
    iface = rest.slice(pct + 1);
    rest = rest.slice(0, pct);
  }
  if (isIpv4(rest)) return { kind: "ip", ip: ipToInt(rest), text: rest, iface, resolveTable };
  if (rest === "") throw new ConfigError(`empty gateway "${text}"`);
  return { kind: "iface", iface: rest, text: rest };
}

function compileRoutes(tables: RosTables, addresses: IfAddress[], major: 6 | 7): RouteEntry[] {
  const routes: RouteEntry[] = [];
  addresses.forEach((a, i) => {
    routes.push({
      key: `connected#${i}`,
      table: "main",
      dst: {
        lo: a.network,
        hi: (a.network | ~prefixMask(a.connectedPrefix)) >>> 0,
        prefix: a.connectedPrefix,
      },
      gateways: [],
      distance: 0,
      scope: 10,
      targetScope: 10,
      type: "unicast",
      connected: { interface: a.interface },
      prefSrc: a.address,
      disabled: false,
    });
  });
  rows(tables, "/ip/route").forEach((e, i) => {
    // Connected routes are derived from /ip/address; a router's print also lists them (dynamic, connect).
    if (flag(e, "connect") || (flag(e, "dynamic") && e["dst-address"] && !e.gateway)) return;
    if (e["routing-table"] !== undefined && major === 6) {
      throw new ConfigError(
        `route ${e[".id"] ?? i}: routing-table is a v7 property; RouterOS v6 uses routing-mark`,
      );
    }
    if (e["routing-mark"] !== undefined && major === 7) {
      throw new ConfigError(
        `route ${e[".id"] ?? i}: routing-mark is a v6 property; RouterOS v7 uses routing-table ("expected end of command")`,
      );
    }
    const table = (major === 6 ? e["routing-mark"] : e["routing-table"]) || "main";
    const dstText = e["dst-address"] || "0.0.0.0/0";
    const dst = parseAddrRange(dstText.includes("/") ? dstText : `${dstText}/32`);
    let type: RouteEntry["type"] = "unicast";
    const typeProp = e.type;
    if (typeProp === "blackhole" || typeProp === "unreachable" || typeProp === "prohibit") type = typeProp;
    if (flag(e, "blackhole")) type = "blackhole";
    const gateways = type === "unicast" ? list(e.gateway ?? "").map(parseGateway) : [];
    if (type === "unicast" && gateways.length === 0) {
      throw new ConfigError(`route ${e[".id"] ?? i} (${dstText}) has neither a gateway nor a blackhole type`);
    }
    const cg = e["check-gateway"];
    let checkGateway: RouteEntry["checkGateway"];
    if (cg === "ping" || cg === "arp" || cg === "bfd" || cg === "bfd-multihop") {
      checkGateway = cg === "bfd-multihop" ? "bfd" : cg;
    } else if (cg !== undefined && cg !== "" && cg !== "none") {
      throw new ConfigError(`route ${e[".id"] ?? i}: unknown check-gateway=${cg}`);
    }
    routes.push({
      key: e[".id"] ?? `route#${i}`,
      table,
      dst: { ...dst, prefix: dst.prefix ?? 32 },
      gateways,
      distance: intProp(e, "distance", 1),
      scope: intProp(e, "scope", 30),
      targetScope: intProp(e, "target-scope", 10),
      checkGateway,
      type,
      prefSrc: e["pref-src"] && isIpv4(e["pref-src"]) ? ipToInt(e["pref-src"]) : undefined,
      disabled: flag(e, "disabled"),
    });
  });
  return routes;
}

function compileTables(tables: RosTables, routes: RouteEntry[], major: 6 | 7): Map<string, { fib: boolean }> {
  const out = new Map<string, { fib: boolean }>([["main", { fib: true }]]);
  if (major === 6) {
    for (const r of routes) out.set(r.table, { fib: true });
    return out;
  }
  for (const e of rows(tables, "/routing/table")) {
    if (!e.name) continue;
    if (e.name === "main") continue;
    out.set(e.name, { fib: enabled(e) && e.fib !== undefined && parseBool(e.fib, true) });
  }
  for (const r of routes) {
    if (!out.has(r.table)) {
      throw new ConfigError(
        `route ${r.key} uses routing-table=${r.table}, which is not in /routing/table (RouterOS v7 requires "/routing/table add name=${r.table} fib" first)`,
      );
    }
  }
  return out;
}

function compileRoutingRules(
  tables: RosTables,
  major: 6 | 7,
  known: Map<string, { fib: boolean }>,
): RoutingRule[] {
  const menu = major === 6 ? "/ip/route/rule" : "/routing/rule";
  const out: RoutingRule[] = [];
  rows(tables, menu).forEach((e, i) => {
    if (!enabled(e)) return;
    const action = (e.action || "lookup") as RoutingRule["action"];
    if (!["lookup", "lookup-only-in-table", "drop", "unreachable"].includes(action)) {
      throw new ConfigError(`${menu} ${e[".id"] ?? i}: unsupported action=${e.action}`);
    }
    const table = e.table || "main";
    if (major === 7 && action.startsWith("lookup") && !known.has(table)) {
      throw new ConfigError(`${menu} ${e[".id"] ?? i}: table=${table} is not in /routing/table`);
    }
    out.push({
      id: e[".id"] ?? `${menu}#${i}`,
      src: e["src-address"] ? parseAddrRange(e["src-address"]) : undefined,
      dst: e["dst-address"] ? parseAddrRange(e["dst-address"]) : undefined,
      routingMark: e["routing-mark"] || undefined,
      interface: e.interface || undefined,
      action,
      table,
    });
  });
  return out;
}

function compileStaticLists(tables: RosTables): Map<string, AddrRange[]> {
  const out = new Map<string, AddrRange[]>();
  for (const e of rows(tables, "/ip/firewall/address-list")) {
    if (!enabled(e) || !e.list || !e.address) continue;
    const addr = e.address.trim();
    if (!/^[\d./-]+$/.test(addr)) {
      throw new ConfigError(`address-list ${e.list}: DNS name entries ("${addr}") are not modelled`);
    }
    const ranges = out.get(e.list) ?? [];
    ranges.push(parseAddrRange(addr));
    out.set(e.list, ranges);
  }
  return out;
}

function compileInterfaceLists(tables: RosTables, addresses: IfAddress[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const e of rows(tables, "/interface/list/member")) {
    if (!enabled(e) || !e.list || !e.interface) continue;
    const set = out.get(e.list) ?? new Set<string>();
    set.add(e.interface);
    out.set(e.list, set);
  }
  out.set("all", new Set(addresses.map((a) => a.interface)));
  out.set("none", new Set());
  return out;
}

export function compileConfig(tables: RosTables, opts: CompileOptions): Config {
  const { major } = opts;
  const addresses = compileAddresses(tables);
  const local = new Set(addresses.map((a) => a.address));
  const broadcast = new Set<number>([0xffffffff]);
  for (const a of addresses) if (a.broadcast !== undefined) broadcast.add(a.broadcast);
  const routes = compileRoutes(tables, addresses, major);
  const tableMap = compileTables(tables, routes, major);
  const settings = major === 7 ? (rows(tables, "/routing/settings")[0] ?? {}) : {};
  const interval = settings["check-gateway-ping-interval"];
  const count = settings["check-gateway-ping-count"];
  const ruleOpts = { major, unsupportedMatchers: opts.unsupportedMatchers, tables: tableMap };
  return {
    major,
    addresses,
    local,
    broadcast,
    mangle: compileRules(rows(tables, "/ip/firewall/mangle"), "mangle", ruleOpts),
    nat: compileRules(rows(tables, "/ip/firewall/nat"), "nat", ruleOpts),
    staticLists: compileStaticLists(tables),
    interfaceLists: compileInterfaceLists(tables, addresses),
    routes,
    tables: tableMap,
    routingRules: compileRoutingRules(tables, major, tableMap),
    checkGatewayInterval: interval ? parseDuration(interval) : 10_000,
    checkGatewayCount: count ? Number(count) : 2,
    netwatch: rows(tables, "/tool/netwatch")
      .filter((e) => enabled(e) && e.host)
      .map((e, i) => ({
        key: e[".id"] ?? `netwatch#${i}`,
        ...(e[".id"] ? { id: e[".id"] } : {}),
        host: e.host,
        interval: e.interval ? parseDuration(e.interval) : 10_000,
        timeout: e.timeout ? parseDuration(e.timeout) : major === 7 ? 3000 : 1000,
        type: e.type ?? "simple",
        ...(e["src-address"] ? { srcAddress: e["src-address"] } : {}),
        ...(e["up-script"] ? { upScript: e["up-script"] } : {}),
        ...(e["down-script"] ? { downScript: e["down-script"] } : {}),
        ...(e["test-script"] ? { testScript: e["test-script"] } : {}),
      })),
  };
}

/** The address a masquerade on `iface` uses: `pref-src` if it is on the interface, else the one whose
 * network holds the next hop, else the interface's first address. */
export function interfaceAddress(
  config: Config,
  iface: string,
  nextHop: number | undefined,
  prefSrc?: number,
): string | undefined {
  const own = config.addresses.filter((a) => a.interface === iface);
  if (prefSrc !== undefined && own.some((a) => a.address === prefSrc)) return intToIp(prefSrc);
  if (nextHop !== undefined) {
    const hit = own.find(
      (a) => (nextHop & prefixMask(a.prefix)) >>> 0 === (a.address & prefixMask(a.prefix)) >>> 0,
    );
    if (hit) return intToIp(hit.address);
  }
  return own[0] ? intToIp(own[0].address) : undefined;
}
