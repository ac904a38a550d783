/**
 * The menus the simulator knows, as data: one table per menu.
 *
 * A property lists its value type, the versions it exists in (`since` inclusive, `until` exclusive), whether
 * it is required on add, read-only (printed, never accepted as input) and what is printed when it is unset.
 * Stored values are the normalised input (durations in ms); `print` of the value type turns them into what
 * the router prints. Cross-property checks are `rules`; values the router computes are `derive`.
 * The generic engine (engine.ts) interprets these tables; adding a menu is adding a table here.
 */
import { Msg } from "./messages";
import {
  BUILTIN_INTERFACE_LISTS,
  ValueContext,
  ValueType,
  addressOrRange,
  bool,
  duration,
  durationOr,
  flag,
  formatDuration,
  gateway,
  hostPrefix,
  int,
  interfaceListRef,
  interfaceRef,
  intToIp,
  ipToInt,
  ipv4,
  listAddress,
  maskOf,
  name,
  negatable,
  network,
  nth,
  oneOf,
  parseDurationMs,
  parsePrefix,
  pcc,
  portList,
  portRange,
  prefixContains,
  protocol,
  setOf,
  tableRef,
  text,
} from "./values";
import { RosVersion, atLeast } from "./version";

/** Stored values of one entry (normalised input form). */
export type Values = Readonly<Record<string, string>>;

/** A row as menu functions see it. */
export interface RowView {
  id: number;
  values: Values;
  /** Made by the router (connected routes, the "main" table): cannot be set or removed. */
  dynamic: boolean;
  createdAt: number;
}

/** What `rules`, `derive` and `generate` functions may read. */
export interface MenuContext extends ValueContext {
  now(): number;
  /** Rows of another menu, in print order. */
  rows(menu: string): readonly RowView[];
  system: { identity: string; boardName: string; startedAt: number; architecture: string };
}

export interface PropSpec {
  type: ValueType;
  since?: string;
  until?: string;
  required?: boolean;
  /** Printed (stored form, then through the type's print) when the property is unset. */
  default?: string | ((e: Values, ctx: MenuContext) => string | undefined);
  /** Printed only; `add`/`set` reject it as an unknown parameter. Its value comes from `derive` or `default`. */
  readOnly?: boolean;
}

export type Command = "print" | "getall" | "add" | "set" | "remove" | "enable" | "disable" | "unset" | "move";

export interface MenuSpec {
  path: string;
  since?: string;
  until?: string;
  /** "singleton": one unnamed item (/system/identity); print gives no `.id`. */
  kind: "list" | "singleton";
  /** Order matters (firewall chains, rules): `add place-before=` and `move` apply. */
  ordered?: boolean;
  commands: readonly Command[];
  /** Versions in which a command exists, where not all of the menu's (`since` inclusive, `until` exclusive). */
  commandWindows?: Partial<Record<Command, { since?: string; until?: string }>>;
  /**
   * What `unset value-name=` accepts (RouterOS offers only some properties, e.g. not mangle's `disabled` nor
   * any action argument); any other name is refused as no value of value-name.
   */
  unsettable?: readonly string[];
  props: Readonly<Record<string, PropSpec>>;
  /** Duplicate detection: an entry whose values at `keys` equal another's is refused with `message`. */
  unique?: ReadonlyArray<{ keys: readonly string[]; message: string }>;
  /** Cross-property checks on the whole entry after add/set; return a trap message to refuse. */
  rules?: ReadonlyArray<(e: Values, ctx: MenuContext) => string | undefined>;
  /** Read-only values computed at print time (already in printed form). */
  derive?: (row: RowView, ctx: MenuContext) => Record<string, string | undefined>;
  /** A property whose duration makes the entry expire (address-list `timeout`). */
  expiry?: string;
  /** Dynamic rows the router makes from rows of another menu (connected routes from /ip/address). */
  generate?: { from: string; make: (source: RowView, ctx: MenuContext) => Values | undefined };
  /** Dynamic rows present from the start (the "main" routing table). */
  builtin?: (ctx: { version: RosVersion }) => Values[];
}

/**
 * Commands per menu follow RouterOS 7.9-7.24's `/console/inspect` (conformance.test.ts): several menus have
 * no `unset` at all (address lists, interface lists and their members, addresses), interface lists have no
 * `disabled` and so no enable/disable. v6 has no such data: the same commands are assumed.
 */
const BASIC: readonly Command[] = ["print", "getall", "add", "set", "remove"];
const LIST: readonly Command[] = [...BASIC, "enable", "disable"];
/** A plain list menu, one that can also unset some properties, and one whose order matters. */
const LIST_MENU = { kind: "list", commands: LIST } as const;
const UNSET_MENU = { kind: "list", commands: [...LIST, "unset"] } as const;
const ORDERED_MENU = { kind: "list", ordered: true, commands: [...LIST, "unset", "move"] } as const;

const ms = (d: string): string => String(parseDurationMs(d));
const FALSE = "false";
const common = {
  comment: { type: text },
  disabled: { type: bool, default: FALSE },
} satisfies Record<string, PropSpec>;
const counters = {
  bytes: { type: text, readOnly: true, default: "0" },
  packets: { type: text, readOnly: true, default: "0" },
  invalid: { type: bool, readOnly: true, default: FALSE },
  dynamic: { type: bool, readOnly: true, default: FALSE },
} satisfies Record<string, PropSpec>;

/** "when action is X, property P must be given" rules. */
function requiredFor(map: Record<string, string>): (e: Values) => string | undefined {
  return (e) => {
    const needed = map[e.action ?? ""];
    return needed && e[needed] === undefined ? Msg.missing([needed]) : undefined;
  };
}

/** v7 offers no unreachable/prohibit address types (7.21+ completions); v6 keeps the old list (no data). */
const ADDRESS_TYPES = (ctx: { version: RosVersion }): readonly string[] =>
  ctx.version.major >= 7
    ? ["unicast", "local", "broadcast", "blackhole", "multicast"]
    : ["unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", "multicast"];

/** Matchers shared by mangle, nat and filter. */
const firewallMatchers = {
  chain: { type: name, required: true },
  "src-address": { type: negatable(addressOrRange) },
  "dst-address": { type: negatable(addressOrRange) },
  "src-address-list": { type: negatable(name) },
  "dst-address-list": { type: negatable(name) },
  "src-address-type": { type: negatable(setOf(ADDRESS_TYPES)) },
  "dst-address-type": { type: negatable(setOf(ADDRESS_TYPES)) },
  "in-interface": { type: negatable(interfaceRef) },
  "out-interface": { type: negatable(interfaceRef) },
  "in-interface-list": { type: negatable(interfaceListRef) },
  "out-interface-list": { type: negatable(interfaceListRef) },
  protocol: { type: negatable(protocol) },
  "src-port": { type: negatable(portList) },
  "dst-port": { type: negatable(portList) },
  port: { type: negatable(portList) },
  "connection-state": { type: negatable(setOf(["established", "related", "new", "invalid", "untracked"])) },
  "connection-nat-state": { type: negatable(setOf(["srcnat", "dstnat"])) },
  "connection-mark": { type: negatable(name) },
  "packet-mark": { type: negatable(name) },
  "routing-mark": { type: negatable(name) },
  nth: { type: nth },
  "per-connection-classifier": { type: pcc },
  "jump-target": { type: name },
  "address-list": { type: name },
  "address-list-timeout": {
    type: durationOr(["none-dynamic", "none-static"]),
    default: (e: Values) => (e.action?.startsWith("add-") ? "none-dynamic" : undefined),
  },
  log: { type: bool, default: FALSE },
  "log-prefix": { type: text, default: "" },
  ...common,
  ...counters,
} satisfies Record<string, PropSpec>;

/** The matchers `unset` accepts (an action's own arguments, log, chain and disabled it does not). */
const UNSETTABLE_MATCHERS = [
  "src-address", "dst-address", "src-address-list", "dst-address-list", "src-address-type", "dst-address-type",
  "in-interface", "out-interface", "in-interface-list", "out-interface-list", "protocol", "src-port", "dst-port",
  "port", "connection-state", "connection-nat-state", "connection-mark", "packet-mark", "routing-mark", "nth",
  "per-connection-classifier",
]; // prettier-ignore

const jumpAndListRules = requiredFor({
  jump: "jump-target",
  "add-src-to-address-list": "address-list",
  "add-dst-to-address-list": "address-list",
});

/** Actions for which mangle prints `passthrough`. */
const PASSTHROUGH_ACTIONS = [
  "mark-connection",
  "mark-packet",
  "mark-routing",
  "change-dscp",
  "change-mss",
  "change-ttl",
  "clear-df",
  "set-priority",
  "strip-ipv4-options",
  "sniff-tzsp",
  "sniff-pc",
];

/** A firewall menu: the shared matchers, its actions (default accept), its own properties and rules. */
function firewallMenu(
  path: string,
  actions: readonly string[],
  props: Record<string, PropSpec>,
  rules: MenuSpec["rules"] = [],
  unsettable: readonly string[] = [],
): MenuSpec {
  return {
    path,
    ...ORDERED_MENU,
    props: { ...firewallMatchers, action: { type: oneOf([...actions]), default: "accept" }, ...props },
    rules: [jumpAndListRules, ...(rules ?? [])],
    unsettable: [...UNSETTABLE_MATCHERS, ...unsettable],
  };
}

/** Actions of every firewall menu. */
const FIREWALL_ACTIONS = ["accept", "add-dst-to-address-list", "add-src-to-address-list", "jump", "log", "passthrough", "return"]; // prettier-ignore

const mangle = firewallMenu(
  "/ip/firewall/mangle",
  [
    ...FIREWALL_ACTIONS, "change-dscp", "change-mss", "change-ttl", "clear-df", "fasttrack-connection",
    "mark-connection", "mark-packet", "mark-routing", "route", "set-priority", "sniff-pc", "sniff-tzsp",
    "strip-ipv4-options",
  ], // prettier-ignore
  {
    "new-connection-mark": { type: name },
    "new-packet-mark": { type: name },
    // v7: must name an existing /routing/table (routeros.md "v6 versus v7": "X must be an existing table").
    "new-routing-mark": { type: tableRef },
    // The default changed in 7.19 (routeros.md): printed for mark-style actions only.
    passthrough: {
      type: bool,
      default: (e, ctx) =>
        PASSTHROUGH_ACTIONS.includes(e.action ?? "") ? String(!atLeast(ctx.version, "7.19")) : undefined,
    },
  },
  [
    requiredFor({
      "mark-connection": "new-connection-mark",
      "mark-packet": "new-packet-mark",
      "mark-routing": "new-routing-mark",
    }),
  ],
);

const nat = firewallMenu(
  "/ip/firewall/nat",
  [...FIREWALL_ACTIONS, "dst-nat", "masquerade", "netmap", "redirect", "same", "src-nat"],
  {
    "to-addresses": { type: addressOrRange },
    "to-ports": { type: portRange },
    // v7's nat has no connection-state nor connection-nat-state (7.9-7.24); v6 is assumed to (no data).
    "connection-state": { ...firewallMatchers["connection-state"], until: "7.0" },
    "connection-nat-state": { ...firewallMatchers["connection-nat-state"], until: "7.0" },
  },
  [requiredFor({ netmap: "to-addresses" })],
  ["to-addresses", "to-ports"],
);

const filter = firewallMenu(
  "/ip/firewall/filter",
  [...FIREWALL_ACTIONS, "drop", "fasttrack-connection", "reject", "tarpit"],
  {
    "reject-with": {
      type: oneOf([
        "icmp-admin-prohibited", "icmp-host-prohibited", "icmp-host-unreachable", "icmp-net-prohibited",
        "icmp-network-unreachable", "icmp-port-unreachable", "icmp-protocol-unreachable", "tcp-reset",
      ]), // prettier-ignore
    },
    // Gone after 7.20.8 (absent from every crawl from 7.21 on).
    "hw-offload": { type: bool, since: "7.0", until: "7.21" },
  },
);

/** Formats of `creation-time`: v7.10 switched to ISO dates. */
function formatDate(ms: number, v: RosVersion): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, "0");
  const time = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  if (atLeast(v, "7.10"))
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${time}`;
  const mon = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"][
    d.getUTCMonth()
  ];
  return `${mon}/${p(d.getUTCDate())}/${d.getUTCFullYear()} ${time}`;
}

const addressList: MenuSpec = {
  path: "/ip/firewall/address-list",
  ...LIST_MENU,
  props: {
    list: { type: name, required: true },
    address: { type: listAddress, required: true },
    timeout: { type: duration },
    "creation-time": { type: text, readOnly: true },
    dynamic: { type: bool, readOnly: true },
    ...common,
  },
  expiry: "timeout",
  unique: [{ keys: ["list", "address"], message: Msg.duplicate }],
  // An entry with a timeout is dynamic; its timeout prints as the time left (engine.ts, `expiry`).
  derive: (row, ctx) => ({
    dynamic: String(row.values.timeout !== undefined),
    "creation-time": formatDate(row.createdAt, ctx.version),
  }),
};

const ipAddress: MenuSpec = {
  path: "/ip/address",
  ...LIST_MENU,
  props: {
    address: { type: hostPrefix, required: true },
    network: { type: ipv4 },
    netmask: { type: ipv4, readOnly: true },
    broadcast: { type: ipv4 },
    interface: { type: interfaceRef, required: true },
    "actual-interface": { type: text, readOnly: true },
    invalid: { type: bool, readOnly: true, default: FALSE },
    dynamic: { type: bool, readOnly: true, default: FALSE },
    ...common,
  },
  unique: [{ keys: ["address", "interface"], message: Msg.duplicateAddress }],
  derive: (row) => {
    const p = parsePrefix(row.values.address);
    return {
      network: row.values.network ?? (p ? intToIp((p.ip & maskOf(p.bits)) >>> 0) : undefined),
      "actual-interface": row.values.interface,
    };
  },
};

const CONNECTED_SCOPE = "10";

/** Route reachability and selection, as `print` shows it (active / inactive / ecmp / immediate-gw). */
function routeState(row: RowView, ctx: MenuContext): Record<string, string | undefined> {
  const v7 = ctx.version.major >= 7;
  const routes = ctx.rows("/ip/route");
  const tableOf = (r: RowView): string => r.values["routing-table"] ?? r.values["routing-mark"] ?? "main";
  const dstOf = (r: RowView): string => r.values["dst-address"] ?? "0.0.0.0/0";
  const enabled = (r: RowView): boolean => r.values.disabled !== "true";

  // A next hop resolves through a connected route (gateway = interface), or recursively through another
  // route in "main" whose scope <= this route's target-scope (routeros.md "check-gateway").
  const resolveHop = (hop: string, targetScope: number, self: RowView, depth: number): string | undefined => {
    const ifaces = ctx.interfaces();
    if (ifaces.has(hop)) return hop;
    const [ipPart, via] = hop.split(/[%@]/);
    if (hop.includes("%")) return ifaces.has(via) ? hop : undefined;
    if (ipToInt(ipPart) === undefined || depth > 3) return undefined;
    let best: RowView | undefined;
    for (const r of routes) {
      if (r === self || !enabled(r) || tableOf(r) !== (hop.includes("@") ? via : "main")) continue;
      if (Number(r.values.scope ?? "30") > targetScope || !prefixContains(dstOf(r), ipPart)) continue;
      if (!best || Number(dstOf(r).split("/")[1]) > Number(dstOf(best).split("/")[1])) best = r;
    }
    if (!best) return undefined;
    if (best.dynamic) return `${ipPart}%${best.values.gateway}`;
    const next = (best.values.gateway ?? "").split(",")[0];
    return resolveHop(next, Number(best.values["target-scope"] ?? "10"), best, depth + 1);
  };
  const hopsOf = (r: RowView): Array<{ hop: string; via?: string }> => {
    if (r.values.blackhole !== undefined || (r.values.type && r.values.type !== "unicast")) return [];
    const ts = Number(r.values["target-scope"] ?? "10");
    return (r.values.gateway ?? "").split(",").map((hop) => ({ hop, via: resolveHop(hop, ts, r, 0) }));
  };
  const reachable = (r: RowView): boolean => {
    const hops = hopsOf(r);
    return hops.length === 0 || hops.some((h) => h.via !== undefined);
  };

  const mine = hopsOf(row);
  const candidates = routes.filter(
    (r) => enabled(r) && tableOf(r) === tableOf(row) && dstOf(r) === dstOf(row) && reachable(r),
  );
  const best = Math.min(...candidates.map((r) => Number(r.values.distance ?? "1")));
  const winners = candidates.filter((r) => Number(r.values.distance ?? "1") === best);
  const activeSet = v7 ? winners : winners.slice(0, 1);
  const active = activeSet.includes(row);
  const viaIface = (via: string): string => (via.includes("%") ? via.split("%")[1] : via);

  const out: Record<string, string | undefined> = {
    active: String(active),
    dynamic: String(row.dynamic),
  };
  if (row.dynamic) out.connect = "true";
  else out.static = "true";
  if (v7) {
    out.inactive = String(!active);
    out.ecmp = String(active && activeSet.length > 1);
    const first = mine.find((h) => h.via !== undefined);
    out["immediate-gw"] = row.dynamic ? row.values.gateway : first?.via;
  } else if (!row.dynamic) {
    out["gateway-status"] =
      mine
        .map((h) =>
          h.via === undefined ? `${h.hop} unreachable` : `${h.hop} reachable via ${viaIface(h.via)}`,
        )
        .join(",") || undefined;
  }
  return out;
}

const route: MenuSpec = {
  path: "/ip/route",
  ...UNSET_MENU,
  // v7's unset offers neither routing-table nor dst-address (nor comment/disabled).
  unsettable: [
    "gateway", "distance", "scope", "target-scope", "check-gateway", "pref-src", "blackhole", "vrf-interface",
  ], // prettier-ignore
  props: {
    "dst-address": { type: network, default: "0.0.0.0/0" },
    gateway: { type: gateway },
    "immediate-gw": { type: text, readOnly: true, since: "7.0" },
    "gateway-status": { type: text, readOnly: true, until: "7.0" },
    // v7 offers arp, none and ping (7.21+ completions; no bfd); v6 arp and ping (manuals, exports).
    "check-gateway": {
      type: oneOf((ctx) => (ctx.version.major >= 7 ? ["arp", "none", "ping"] : ["arp", "ping"])),
    },
    distance: { type: int(1, 255), default: "1" },
    scope: { type: int(0, 255), default: "30" },
    "target-scope": { type: int(0, 255), default: "10" },
    // v6 names the table with routing-mark; v7 with routing-table (which must exist); each rejects the other.
    "routing-mark": { type: name, until: "7.0" },
    "routing-table": { type: tableRef, since: "7.0", default: "main" },
    "pref-src": { type: ipv4 },
    type: { type: oneOf(["unicast", "blackhole", "prohibit", "unreachable"]), until: "7.0" },
    blackhole: { type: flag, since: "7.0" },
    "vrf-interface": { type: interfaceRef, since: "7.0" },
    // Gone after 7.20.8 (absent from every crawl from 7.21 on).
    "suppress-hw-offload": { type: bool, since: "7.0", until: "7.21", default: FALSE },
    active: { type: bool, readOnly: true },
    inactive: { type: bool, readOnly: true, since: "7.0" },
    ecmp: { type: bool, readOnly: true, since: "7.0" },
    dynamic: { type: bool, readOnly: true },
    static: { type: bool, readOnly: true },
    connect: { type: bool, readOnly: true },
    ...common,
  },
  rules: [
    (e) =>
      e.gateway === undefined && e.blackhole === undefined && (e.type ?? "unicast") === "unicast"
        ? Msg.missing(["gateway"])
        : undefined,
  ],
  derive: routeState,
  // Every enabled /ip/address gives a dynamic connected route (distance 0, gateway = its interface).
  generate: {
    from: "/ip/address",
    make(source, ctx) {
      if (source.values.disabled === "true") return undefined;
      const p = parsePrefix(source.values.address);
      if (!p || !ctx.interfaces().has(source.values.interface)) return undefined;
      const net = `${intToIp((p.ip & maskOf(p.bits)) >>> 0)}/${p.bits}`;
      return {
        "dst-address": net,
        gateway: source.values.interface,
        distance: "0",
        scope: CONNECTED_SCOPE,
        "pref-src": intToIp(p.ip),
      };
    },
  },
};

const routingTable: MenuSpec = {
  path: "/routing/table",
  since: "7.0",
  ...UNSET_MENU,
  unsettable: ["fib"],
  props: {
    name: { type: name, required: true },
    // Without fib the table's routes never reach the FIB (routeros.md); printed present-with-empty-value.
    fib: { type: flag },
    invalid: { type: bool, readOnly: true, default: FALSE },
    dynamic: { type: bool, readOnly: true },
    ...common,
  },
  unique: [{ keys: ["name"], message: Msg.duplicate }],
  builtin: () => [{ name: "main", fib: "" }],
  derive: (row) => ({ dynamic: String(row.dynamic) }),
};

/** Policy routing rules: /ip/route/rule (v6), /routing/rule (v7: marks and tables must exist). */
function ruleMenu(
  path: string,
  versions: Pick<MenuSpec, "since" | "until">,
  tables: PropSpec,
  props: Record<string, PropSpec>,
): MenuSpec {
  return {
    path,
    ...versions,
    ...ORDERED_MENU,
    unsettable: ["src-address", "dst-address", "routing-mark", "interface", "min-prefix"],
    props: {
      "src-address": { type: network },
      "dst-address": { type: network },
      "routing-mark": { type: tables.type },
      interface: { type: interfaceRef },
      action: { type: oneOf(["lookup", "lookup-only-in-table", "drop", "unreachable"]), default: "lookup" },
      table: tables,
      ...props,
      ...common,
    },
  };
}

const routeRuleV6 = ruleMenu(
  "/ip/route/rule",
  { until: "7.0" },
  { type: name, default: "main" },
  { invalid: { type: bool, readOnly: true, default: FALSE } },
);

const routingRuleV7 = ruleMenu(
  "/routing/rule",
  { since: "7.0" },
  { type: tableRef },
  { "min-prefix": { type: int(0, 32) }, inactive: { type: bool, readOnly: true, default: FALSE } },
);

const netwatch: MenuSpec = {
  path: "/tool/netwatch",
  ...UNSET_MENU,
  unsettable: [
    "port", "interval", "timeout", "up-script", "down-script", "test-script", "packet-count", "thr-avg",
    "thr-max", "src-address",
  ], // prettier-ignore
  props: {
    host: { type: ipv4, required: true },
    // Probe types appeared in 7.4 (routeros.md "Netwatch defaults").
    type: { type: oneOf(["simple", "icmp", "tcp-conn", "http-get", "https-get", "dns"]), since: "7.4" },
    port: { type: int(1, 65535), since: "7.4" },
    // icmp probe options (7.4+; in every 7.9-7.24 crawl). Printed defaults: help.mikrotik.com "Netwatch".
    "packet-count": { type: int(1, 4294967295), since: "7.4" },
    "thr-avg": { type: duration, since: "7.4" },
    "thr-max": { type: duration, since: "7.4" },
    // Absent from the 7.10.2 crawl, present from 7.11.3 (routeros-inspect oracle).
    "src-address": { type: ipv4, since: "7.11.3" },
    interval: { type: duration, default: ms("10s") },
    // v6 manual: timeout default 1s; v7: 3s (routeros.md).
    timeout: { type: duration, default: (_e, ctx) => (ctx.version.major >= 7 ? ms("3s") : ms("1s")) },
    "up-script": { type: text },
    "down-script": { type: text },
    "test-script": { type: text, since: "7.4" },
    status: { type: text, readOnly: true },
    since: { type: text, readOnly: true },
    ...common,
  },
  // No probing happens here: a host is "up" since the entry was made (set status/since with sim.edit.probe).
  derive: (row, ctx) => ({
    status: row.values["\u0000status"] ?? (row.values.disabled === "true" ? "unknown" : "up"),
    since: formatDate(Number(row.values["\u0000since"] ?? row.createdAt), ctx.version),
    type: row.values.type ?? (atLeast(ctx.version, "7.4") ? "simple" : undefined),
  }),
};

/**
 * The connection tracking table: read-only, nothing stored; its rows are the data plane's connections,
 * supplied at print time (RouterOsSim.live, e.g. the packet-path evaluator's). Printed property names are
 * RouterOS 7's (`/ip/firewall/connection get value-name`, routeros-inspect oracle).
 */
const connection: MenuSpec = {
  path: "/ip/firewall/connection",
  kind: "list",
  commands: ["print"],
  props: Object.fromEntries(
    [
      "protocol", "src-address", "dst-address", "reply-src-address", "reply-dst-address", "tcp-state",
      "connection-mark", "timeout", "seen-reply", "assured", "confirmed", "srcnat", "dstnat",
    ].map((p) => [p, { type: text, readOnly: true }]),
  ), // prettier-ignore
};

const interfaces: MenuSpec = {
  path: "/interface",
  kind: "list",
  commands: ["print", "getall", "set", "enable", "disable"],
  props: {
    name: { type: name },
    type: { type: text, readOnly: true, default: "ether" },
    mtu: { type: int(0, 65535), default: "1500" },
    "actual-mtu": { type: text, readOnly: true, default: "1500" },
    running: { type: bool, readOnly: true, default: "true" },
    ...common,
  },
};

const interfaceList: MenuSpec = {
  path: "/interface/list",
  // No `disabled`, so no enable/disable (7.9-7.24), and no unset.
  kind: "list",
  commands: BASIC,
  props: {
    name: {
      type: {
        kind: "name",
        parse: (raw, prop, ctx) =>
          BUILTIN_INTERFACE_LISTS.includes(raw) ? { error: Msg.duplicate } : name.parse(raw, prop, ctx),
      },
      required: true,
    },
    comment: { type: text },
    dynamic: { type: bool, readOnly: true, default: FALSE },
  },
  unique: [{ keys: ["name"], message: Msg.duplicate }],
};

/**
 * Scripts: the provider keeps its spec record here (one comment line). A script made without `policy` gets
 * every policy; `policy` is a comma-separated subset of these (RouterOS 6 and 7 manuals, "Scripting").
 */
const SCRIPT_POLICIES = [
  "ftp",
  "reboot",
  "read",
  "write",
  "policy",
  "test",
  "password",
  "sniff",
  "sensitive",
  "romon",
];
const systemScript: MenuSpec = {
  path: "/system/script",
  // No `disabled`, so no enable/disable; `run` is not simulated (nothing here runs scripts).
  kind: "list",
  commands: BASIC,
  props: {
    name: { type: name, required: true },
    source: { type: text, default: "" },
    policy: { type: setOf(SCRIPT_POLICIES), default: SCRIPT_POLICIES.join(",") },
    "dont-require-permissions": { type: bool, default: FALSE },
    comment: { type: text },
    owner: { type: text, readOnly: true, default: "admin" },
    "run-count": { type: text, readOnly: true, default: "0" },
    invalid: { type: bool, readOnly: true, default: FALSE },
  },
  unique: [{ keys: ["name"], message: Msg.duplicate }],
};

/**
 * Global variables of scripts (`/system script environment`): in the router's memory, made by `:global`
 * (the netwatch test-scripts' round counters), listed and removed through the API. Nothing here runs
 * scripts: tests put the globals a script would leave with `sim.edit.add`.
 */
const scriptEnvironment: MenuSpec = {
  path: "/system/script/environment",
  kind: "list",
  commands: ["print", "getall", "set", "remove"],
  props: {
    name: { type: name, required: true },
    value: { type: text, default: "" },
  },
  unique: [{ keys: ["name"], message: Msg.duplicate }],
};

/** Members of interface lists: what `in-interface-list` matches. */
const interfaceListMember: MenuSpec = {
  path: "/interface/list/member",
  ...LIST_MENU,
  props: {
    list: { type: interfaceListRef, required: true },
    interface: { type: interfaceRef, required: true },
    ...common,
    dynamic: { type: bool, readOnly: true, default: FALSE },
  },
  unique: [{ keys: ["list", "interface"], message: Msg.duplicate }],
};

const systemResource: MenuSpec = {
  path: "/system/resource",
  kind: "singleton",
  commands: ["print", "getall"],
  props: Object.fromEntries(
    [
      "uptime", "version", "build-time", "factory-software", "free-memory", "total-memory", "cpu", "cpu-count",
      "cpu-frequency", "cpu-load", "free-hdd-space", "total-hdd-space", "architecture-name", "board-name",
      "platform",
    ].map((p) => [p, { type: text, readOnly: true }]),
  ), // prettier-ignore
  derive: (_row, ctx) => ({
    uptime: formatDuration(ctx.now() - ctx.system.startedAt, { ...ctx.version, major: 7 }),
    version: `${ctx.version.text} (stable)`,
    "build-time": ctx.version.major >= 7 ? "2024-10-07 12:00:00" : "jul/21/2023 12:00:00",
    "factory-software": ctx.version.major >= 7 ? "7.1" : "6.44.6",
    "free-memory": "907018240",
    "total-memory": "1073741824",
    cpu: "QEMU",
    "cpu-count": "2",
    "cpu-frequency": "2400",
    "cpu-load": "1",
    "free-hdd-space": "83886080",
    "total-hdd-space": "134217728",
    "architecture-name": ctx.system.architecture,
    "board-name": ctx.system.boardName,
    platform: "MikroTik",
  }),
};

const systemIdentity: MenuSpec = {
  path: "/system/identity",
  kind: "singleton",
  commands: ["print", "getall", "set"],
  props: { name: { type: name } },
  derive: (row, ctx) => ({ name: row.values.name ?? ctx.system.identity }),
};

/**
 * All menus. Order is also the order in which `seed` entries are applied (referenced names first).
 */
export const MENUS: readonly MenuSpec[] = [
  interfaces,
  interfaceList,
  interfaceListMember,
  systemIdentity,
  systemResource,
  systemScript,
  scriptEnvironment,
  routingTable,
  ipAddress,
  route,
  routeRuleV6,
  routingRuleV7,
  addressList,
  mangle,
  nat,
  filter,
  netwatch,
  connection,
];

/** Directories that exist on every router besides the menus' own paths and their parents. */
export const EXTRA_DIRECTORIES = ["/ip", "/ip/firewall", "/routing", "/system", "/tool", "/interface"];

/** Stored value keys starting with NUL are simulator-internal (never printed, never accepted as input). */
export const INTERNAL_PREFIX = "\u0000";
