/**
 * Packet-path evaluator: a model of RouterOS's IPv4 data plane over a configuration *as the RouterOS API
 * prints it*, so tests can check what a configuration does rather than what it contains.
 *
 * Packet flow modelled (RouterOS "Packet Flow in RouterOS", help.mikrotik.com; same hook order in v6):
 *
 *   arriving packet:   mangle prerouting -> nat dstnat -> routing decision
 *                        -> local:   mangle input                          (delivered to the router)
 *                        -> forward: mangle forward -> mangle postrouting -> nat srcnat -> out-interface
 *   router's packet:   routing decision -> mangle output -> nat dstnat -> re-route (routing mark or new
 *                      dst) -> mangle postrouting -> nat srcnat -> out-interface
 *
 * Conntrack: the connection mark lives in the connection; routing and packet marks live in one packet
 * (each packet starts unmarked and is re-marked by mangle). NAT chains only see a connection's first
 * packet; every later packet gets the same translation (reply direction reversed), even when the
 * connection is later routed through another interface (reported as `sourceMismatch`).
 *
 * Routing decision (see `route()`):
 *   v6: the router's own addresses are delivered locally before anything else (Linux's `local` rule);
 *       then `/ip/route/rule`, then the table named by the routing mark, then main.
 *   v7: the table named by the routing mark is consulted first (a mark must name a `/routing/table`
 *       entry; without `fib` its routes are not in the FIB), *then* local delivery: marking traffic to
 *       the router's own address sends it out of the marked table's gateway (the v7 lock-out hazard);
 *       then `/routing/rule`, then main.
 *   A marked table without an active route for the destination falls back to main
 *   (`markedTableFallback`, default "main"); `action=lookup` rules fall through, `lookup-only-in-table`
 *   drops on a miss. Sources: help.mikrotik.com "Policy Routing" and "routing rule" (actions
 *   lookup / lookup-only-in-table), help.mikrotik.com "Moving from ROSv6 to v7" (tables must exist and
 *   carry `fib`), mikrotikdocs.fyi "Routing Rules" ("if mangle marks a packet and that table can resolve
 *   the destination, routing rules are bypassed"). The fallback of a *mark* on a miss is not stated
 *   verbatim in any MikroTik page found; it is how v6 is commonly described to behave, hence an option.
 *   The v7 order "mark before local delivery" follows the project's notes (shared/notes/routeros.md),
 *   not a MikroTik page. A routing mark set in input/forward/postrouting has no routing effect (the
 *   decision was already taken).
 *
 * check-gateway (timed mode): probes every `check-gateway-ping-interval` (10 s), a gateway is down after
 * `check-gateway-ping-count` (2) consecutive misses and up again after one answer (v7 `/routing/settings`
 * defaults: interval 10s, count 2, timeout 1s, help.mikrotik.com "routing settings"; v6 uses the same fixed
 * 10 s / 2 misses). Probes run at multiples of the interval after construction; gateways start up.
 *
 * Probes and gateways: see `packet-path/routing.ts` for gateway resolution (scope / target-scope, recursive
 * next hops; v6 resolves next hops in main, v7 in the route's own table then main, `gw@table` explicit).
 *
 * Concurrency: `openBurst()` processes first packets as the router's cores would, each seeing the
 * address lists as they were when the burst began (the race behind seed 001's "address in both lists").
 *
 * v6 route cache: ECMP choice is cached per (src, dst) and the cache is flushed on every routing change
 * and every 10 minutes (seed 002), after which a flow may take the other gateway; modelled by salting the
 * ECMP hash with a flush epoch. v7 (no route cache) hashes (src, dst) only.
 */
import {
  compileConfig,
  interfaceAddress,
  type Config,
  type RouteEntry,
  type GatewaySpec,
  type NetwatchEntry,
} from "./packet-path/config";
import {
  PASSTHROUGH_ACTIONS,
  runChain,
  type CompiledRule,
  type FwPacket,
  type MatchEnv,
} from "./packet-path/firewall";
import { hash32 } from "./packet-path/hash";
import { NETWATCH_POLICY, runScript, type ScriptValue } from "./packet-path/script";
import { Rib, type LookupOutcome } from "./packet-path/routing";
import type {
  ConnectionState,
  Direction,
  DynamicAddressListEntry,
  Endpoint,
  Flow,
  OpenPacket,
  PacketPathOptions,
  PacketResult,
  ProbeVia,
  RosTables,
  World,
} from "./packet-path/types";
import {
  ConfigError,
  inRange,
  intToIp,
  ipToInt,
  list,
  parseAddrRange,
  parseBool,
  parseDuration,
  parsePorts,
  protocolNumber,
} from "./packet-path/values";

export type * from "./packet-path/types";
export { ConfigError };

/** Id of a dynamic address-list entry in a netwatch script's view (see `dynamicRows`). */
const DYNAMIC_ID = /^dynamic\|(.+)\|(\d+)$/;

/** A tracked connection (the evaluator's conntrack entry). */
class Conn implements Flow {
  first!: PacketResult;
  mark: string | undefined;
  replySeen = false;
  srcNat?: Endpoint;
  dstNat?: Endpoint;
  /** Out-interface of the first packet in each direction, and of the latest one. */
  readonly firstOut: Partial<Record<Direction, string>> = {};
  readonly lastOut: Partial<Record<Direction, string>> = {};
  destinedToRouter = false;

  constructor(
    readonly id: number,
    readonly original: Flow["original"],
    readonly originatedByRouter: boolean,
  ) {}

  get connectionMark(): string | undefined {
    return this.mark;
  }

  get state(): ConnectionState {
    return this.replySeen ? "established" : "new";
  }
}

interface NetwatchState {
  status: "up" | "down" | "unknown";
  /** When the next test starts (ms, evaluator clock). */
  nextStart: number;
  /** Whether that test's echo is answered, once the evaluator has seen it start. */
  answered?: boolean;
}

interface GatewayProbeState {
  up: boolean;
  misses: number;
}

interface RouteDecision {
  kind: "local" | "forward" | "drop";
  interface?: string;
  gateway?: number;
  table: string;
  requestedTable?: string;
  route?: RouteEntry;
  reason?: string;
}

/** Working state of one packet. */
interface Work {
  pkt: FwPacket;
  conn: Conn;
  dir: Direction;
  state: ConnectionState;
  matched: string[];
  path: string[];
}

/** One route's state, for tests. */
export interface RouteStatus {
  key: string;
  table: string;
  dst: string;
  active: boolean;
  /** Gateways currently usable (resolved and, with check-gateway, answering). */
  gateways: string[];
}

export class PacketPath {
  private readonly major: 6 | 7;
  private readonly world: World;
  private readonly clock: () => number;
  private offset = 0;
  private readonly t0: number;
  private readonly checkMode: "timed" | "instant";
  private readonly fallback: "main" | "none";
  private readonly defaultPassthrough: boolean;
  private readonly refresh: boolean;
  private readonly unsupported: "throw" | "ignore";

  private nextId = 1;
  private readonly conns = new Map<number, Conn>();
  /** list -> address -> expiresAt */
  private readonly dynamicLists = new Map<string, Map<number, number>>();
  /** Address lists as seen by packets of a burst (concurrently processed packets). */
  private listSnapshot?: Map<string, Map<number, number>>;
  private readonly nthCounters = new Map<string, number>();
  private readonly gwStates = new Map<string, GatewayProbeState>();
  private lastTick = 0;
  private readonly downInterfaces = new Set<string>();
  private routeSignature?: string;
  private routeChanges = 0;
  private readonly netwatchState = new Map<string, NetwatchState>();
  /** Each netwatch probe's ICMP connection (one echo id per probe). */
  private readonly netwatchFlows = new Map<string, Conn>();
  private catchingUp = false;
  /** Global variables of netwatch scripts (they all run as the `*sys` user). */
  private readonly scriptGlobals = new Map<string, ScriptValue>();
  private readonly device?: PacketPathOptions["device"];

  constructor(
    private readonly getTables: () => RosTables,
    opts: PacketPathOptions,
  ) {
    this.major = opts.major;
    this.world = opts.world;
    const external = opts.now;
    this.clock = external ? () => external() + this.offset : () => this.offset;
    this.t0 = this.clock();
    this.checkMode = opts.checkGateway ?? "timed";
    this.fallback = opts.markedTableFallback ?? "main";
    this.defaultPassthrough = opts.defaultPassthrough ?? true;
    this.refresh = opts.refreshAddressListTimeout ?? true;
    this.unsupported = opts.unsupportedMatchers ?? "throw";
    this.device = opts.device;
  }

  /** Current time on the evaluator's clock (ms). */
  now(): number {
    return this.clock();
  }

  /** A new connection: its first packet. */
  open(pkt: OpenPacket): Flow {
    const conn = this.newConn(pkt);
    conn.first = this.process(conn, "original", true);
    return conn;
  }

  /**
   * First packets the router processes concurrently (several cores): none of them sees the address-list
   * entries the others add (each evaluates lists as they were when the burst began); nth counters stay
   * shared. Models the race behind "one address in both lists" (seed 001).
   */
  openBurst(pkts: OpenPacket[]): Flow[] {
    this.catchUp();
    this.listSnapshot = new Map([...this.dynamicLists].map(([k, v]) => [k, new Map(v)]));
    try {
      return pkts.map((p) => this.open(p));
    } finally {
      this.listSnapshot = undefined;
    }
  }

  /** A later packet of an existing connection; `reply` travels from the destination back to the source. */
  packet(flow: Flow, direction: Direction): PacketResult {
    const conn = this.conns.get(flow.id);
    if (!conn) throw new Error(`unknown flow ${flow.id}`);
    return this.process(conn, direction, false);
  }

  /** Lets time pass: address-list entries expire, check-gateway and netwatch probes run. */
  advance(ms: number): void {
    if (ms < 0) throw new Error("time does not run backwards");
    this.offset += ms;
    this.catchUp();
  }

  /** Marks an interface down (its connected routes and gateways become unusable) or up again. */
  setInterfaceUp(name: string, up: boolean): void {
    if (up) this.downInterfaces.delete(name);
    else this.downInterfaces.add(name);
  }

  /** Entries created by add-src-to-address-list / add-dst-to-address-list that have not expired. */
  dynamicAddressList(): DynamicAddressListEntry[] {
    this.catchUp();
    const out: DynamicAddressListEntry[] = [];
    for (const [listName, entries] of this.dynamicLists) {
      for (const [ip, expiresAt] of entries) out.push({ list: listName, address: intToIp(ip), expiresAt });
    }
    return out;
  }

  /** The tracked connections (read-only views), in the order they were opened: the connection table. */
  connections(): Flow[] {
    return [...this.conns.values()];
  }

  /** Routes with their computed activity (connected routes included). */
  routes(): RouteStatus[] {
    this.catchUp();
    const config = this.compile();
    const rib = this.rib(config);
    return config.routes.map((r) => {
      const s = rib.state(r);
      return {
        key: r.key,
        table: r.table,
        dst: `${intToIp(r.dst.lo)}/${r.dst.prefix}`,
        active: s.active,
        gateways: s.members.map((m) => m.gateway?.text ?? m.interface),
      };
    });
  }

  /** Where a packet with these properties would be routed right now (no firewall involved). */
  lookup(dst: string, opts: { src?: string; routingMark?: string; inInterface?: string } = {}): PacketResult {
    this.catchUp();
    const config = this.compile();
    const rib = this.rib(config);
    const pkt: FwPacket = {
      src: opts.src ? ipToInt(opts.src) : 0,
      dst: ipToInt(dst),
      protocol: 0,
      routingMark: opts.routingMark,
      inInterface: opts.inInterface,
    };
    const d = this.route(config, rib, pkt);
    return {
      direction: "original",
      connectionState: "new",
      outInterface: d.kind === "local" ? "local" : d.kind === "drop" ? "drop" : (d.interface as string),
      gateway: d.gateway === undefined ? undefined : intToIp(d.gateway),
      routingTable: d.table,
      requestedTable: d.requestedTable,
      routingMark: opts.routingMark,
      wire: { src: intToIp(pkt.src), dst },
      matchedRules: [],
      path: [`routing:${d.table}`],
      dropped: d.kind === "drop" ? true : undefined,
      dropReason: d.reason,
    };
  }

  /**
   * `/tool/netwatch` hosts and their status. Each entry runs one test after another: a test answered
   * completes at once ("up"), an unanswered one after `timeout` ("down"), and the next test starts
   * `interval` after a test completes. After each test the test-script runs (RouterOS 7.4+), and the
   * up-script or down-script when the status changed. The world is asked when a test completes.
   */
  netwatch(): Array<{ host: string; status: "up" | "down" | "unknown" }> {
    this.catchUp();
    return this.compile().netwatch.map((n) => ({
      host: n.host,
      status: this.netwatchState.get(n.key)?.status ?? "unknown",
    }));
  }

  // ---------------------------------------------------------------------------------------------------

  private compile(): Config {
    return compileConfig(this.getTables(), { major: this.major, unsupportedMatchers: this.unsupported });
  }

  private rib(config: Config): Rib {
    return new Rib(config, {
      downInterfaces: this.downInterfaces,
      gatewayUp: (route, gw, via) => this.gatewayUp(route, gw, via),
    });
  }

  private gatewayUp(route: RouteEntry, gw: GatewaySpec, via: ProbeVia): boolean {
    if (this.checkMode === "instant") return this.probeOnce(route, gw, via);
    return this.gwStates.get(`${route.key}|${gw.text}`)?.up ?? true;
  }

  private probeOnce(route: RouteEntry, gw: GatewaySpec, via: ProbeVia): boolean {
    if (route.checkGateway === "arp" && this.world.answersArp) return this.world.answersArp(gw.text, via);
    return this.world.answersPing(gw.text, via);
  }

  /** Runs the periodic work due up to now: list expiry, check-gateway probes, netwatch, route-cache flush. */
  private catchUp(): void {
    // A netwatch probe's echo is processed like any packet, which catches up first: not again.
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      this.catchUpNow();
    } finally {
      this.catchingUp = false;
    }
  }

  private catchUpNow(): void {
    const now = this.now();
    for (const entries of this.dynamicLists.values()) {
      for (const [ip, expiresAt] of entries) if (expiresAt <= now) entries.delete(ip);
    }
    const config = this.compile();
    const interval = config.checkGatewayInterval;
    const tick = Math.floor((now - this.t0) / interval);
    if (tick > this.lastTick) {
      // With a world that does not change during one advance, more than count+1 rounds change nothing.
      const first = Math.max(this.lastTick + 1, tick - (config.checkGatewayCount + 2));
      for (let k = first; k <= tick; k++) this.probeRound(config);
      this.lastTick = tick;
    }
    this.runNetwatch(config, now);
    if (this.major === 6) {
      const sig = this.rib(config).signature();
      if (this.routeSignature !== undefined && sig !== this.routeSignature) this.routeChanges++;
      this.routeSignature = sig;
    }
  }

  /**
   * Netwatch tests due up to `now`, in time order over all entries, each with its scripts. A test's echo
   * is answered or not as the world is when the evaluator first sees the test started (worlds change
   * between steps), so a world change never reaches back into a test already under way.
   */
  private runNetwatch(initial: Config, now: number): void {
    let config = initial;
    // What scripts read, fetched once per step and again after a script wrote.
    let tables: RosTables | undefined;
    for (const n of config.netwatch)
      if (!this.netwatchState.has(n.key))
        this.netwatchState.set(n.key, { status: "unknown", nextStart: now });
    for (let guard = 0; guard < 1_000_000; guard++) {
      let best: { n: NetwatchEntry; st: NetwatchState; at: number } | undefined;
      for (const n of config.netwatch) {
        const st = this.netwatchState.get(n.key);
        if (!st || st.nextStart > now) continue;
        st.answered ??= this.netwatchAnswered(config, n);
        // An answered test ends at once; an unanswered one after its timeout.
        const at = st.nextStart + (st.answered ? 0 : n.timeout);
        if (at <= now && (!best || at < best.at)) best = { n, st, at };
      }
      if (!best) return;
      const { n, st, at } = best;
      const before = st.status;
      st.status = st.answered ? "up" : "down";
      st.nextStart = at + n.interval;
      st.answered = undefined;
      this.device?.netwatchStatus?.(n.id ?? n.key, st.status);
      const scripts = [
        n.testScript,
        before !== st.status ? (st.status === "up" ? n.upScript : n.downScript) : undefined,
      ].filter((x): x is string => !!x);
      let wrote = false;
      for (const source of scripts) {
        tables ??= this.getTables();
        wrote = this.runNetwatchScript(source, tables) || wrote;
      }
      if (wrote) {
        config = this.compile();
        tables = undefined;
      }
    }
    throw new Error("netwatch: too many tests in one step");
  }

  /**
   * Does the probe of `n` get an answer now? Its echo is the router's own packet through the whole local
   * path (routing, mangle output, re-route, postrouting), with one echo id per probe as ping keeps one: the
   * echoes after the first belong to the same ICMP connection, so a connection mark given to it (and the
   * routing mark an output rule derives from that) steers them too, the worst case for a probe.
   */
  private netwatchAnswered(config: Config, n: NetwatchEntry): boolean {
    // A source address the router does not have: the probe is never sent (help.mikrotik.com "Netwatch").
    if (n.srcAddress && !config.local.has(ipToInt(n.srcAddress))) return false;
    let conn = this.netwatchFlows.get(n.key);
    let res: PacketResult;
    if (conn && conn.original.dst === n.host && (!n.srcAddress || conn.original.src === n.srcAddress))
      res = this.process(conn, "original", false);
    else {
      conn = this.newConn({ inInterface: "router", src: n.srcAddress, dst: n.host, protocol: "icmp" });
      this.netwatchFlows.set(n.key, conn);
      res = this.process(conn, "original", true);
    }
    if (res.dropped || res.outInterface === "local" || res.outInterface === "drop") return false;
    return this.world.answersPing(n.host, { gateway: res.gateway ?? n.host, interface: res.outInterface });
  }

  /** Runs one netwatch script with netwatch's policy; true when it wrote to the device. */
  private runNetwatchScript(source: string, tables: RosTables): boolean {
    let wrote = false;
    runScript(
      source,
      {
        globals: this.scriptGlobals,
        rows: (menu) =>
          menu === "/tool/netwatch"
            ? (tables[menu] ?? []).map((r) => {
                const key = r[".id"];
                const st = key ? this.netwatchState.get(key) : undefined;
                return st ? { ...r, status: st.status } : r;
              })
            : menu === "/ip/firewall/address-list"
              ? [...(tables[menu] ?? []), ...this.dynamicRows()]
              : (tables[menu] ?? []),
        command: (menu, verb, ids) => {
          if (verb === "remove") {
            // Only the dynamic entries the firewall made (the evaluator's); static ones are the device's.
            for (const id of ids) {
              const m = DYNAMIC_ID.exec(id);
              if (!m) throw new ConfigError(`a netwatch script removed ${menu} ${id}: not modelled`);
              this.dynamicLists.get(m[1])?.delete(Number(m[2]));
            }
            return;
          }
          if (!this.device)
            throw new ConfigError(`a netwatch script ran ${menu} ${verb}: give PacketPathOptions.device`);
          for (const id of ids) this.device.set(menu, id, { disabled: verb === "disable" ? "yes" : "no" });
          if (ids.length) wrote = true;
        },
      },
      NETWATCH_POLICY,
    );
    return wrote;
  }

  /** The dynamic address-list entries as a script's `find` sees them (ids name list and address). */
  private dynamicRows(): Array<Record<string, string>> {
    const now = this.now();
    const rows: Array<Record<string, string>> = [];
    for (const [list, entries] of this.dynamicLists)
      for (const [ip, expiresAt] of entries)
        if (expiresAt > now)
          rows.push({
            ".id": `dynamic|${list}|${ip}`,
            list,
            address: intToIp(ip),
            dynamic: "true",
            disabled: "false",
          });
    return rows;
  }

  /** One check-gateway round: every check-gateway route pings each of its gateways. */
  private probeRound(config: Config): void {
    if (this.checkMode === "instant") return;
    const rib = this.rib(config); // states as they were before this round
    const results: Array<[string, boolean]> = [];
    for (const route of config.routes) {
      if (!route.checkGateway || route.disabled) continue;
      for (const gw of route.gateways) {
        const key = `${route.key}|${gw.text}`;
        if (results.some(([k]) => k === key)) continue;
        const r = rib.resolve(route, gw);
        if (!r) continue;
        const via = {
          gateway: intToIp(r.immediate ?? (gw.kind === "ip" ? gw.ip : 0)),
          interface: r.interface,
        };
        results.push([key, this.probeOnce(route, gw, via)]);
      }
    }
    for (const [key, ok] of results) {
      const s = this.gwStates.get(key) ?? { up: true, misses: 0 };
      if (ok) {
        s.up = true;
        s.misses = 0;
      } else {
        s.misses++;
        if (s.misses >= config.checkGatewayCount) s.up = false;
      }
      this.gwStates.set(key, s);
    }
  }

  private newConn(pkt: OpenPacket): Conn {
    const byRouter = pkt.inInterface === "router";
    if (!byRouter && pkt.src === undefined) throw new Error("a packet arriving on an interface needs a src");
    const protocol = pkt.protocol ?? "tcp";
    const ports =
      protocol === "icmp"
        ? {}
        : { srcPort: pkt.srcPort ?? 40000 + (this.nextId % 20000), dstPort: pkt.dstPort ?? 443 };
    const conn = new Conn(
      this.nextId++,
      { inInterface: pkt.inInterface, src: pkt.src ?? "", dst: pkt.dst, protocol, ...ports },
      byRouter,
    );
    this.conns.set(conn.id, conn);
    return conn;
  }

  private process(conn: Conn, dir: Direction, isFirst: boolean): PacketResult {
    this.catchUp();
    const config = this.compile();
    const rib = this.rib(config);
    if (dir === "reply") {
      const out = conn.lastOut.original;
      if (out === undefined || out === "drop")
        throw new Error(`flow ${conn.id}: the original direction never left`);
      conn.replySeen = true;
    }
    const o = conn.original;
    const oSrc = o.src === "" ? 0 : ipToInt(o.src);
    const oDst = ipToInt(o.dst);
    const pkt: FwPacket =
      dir === "original"
        ? {
            src: oSrc,
            dst: oDst,
            protocol: protocolNumber(o.protocol),
            srcPort: o.srcPort,
            dstPort: o.dstPort,
          }
        : {
            src: conn.dstNat ? ipToInt(conn.dstNat.address) : oDst,
            dst: conn.srcNat ? ipToInt(conn.srcNat.address) : oSrc,
            protocol: protocolNumber(o.protocol),
            srcPort: conn.dstNat?.port ?? o.dstPort,
            dstPort: conn.srcNat?.port ?? o.srcPort,
          };
    const w: Work = {
      pkt,
      conn,
      dir,
      state: dir === "reply" || conn.replySeen ? "established" : "new",
      matched: [],
      path: [],
    };
    const generatedLocally = dir === "original" ? conn.originatedByRouter : conn.lastOut.original === "local";
    const decision = generatedLocally
      ? this.localPath(config, rib, w, isFirst)
      : this.arrivingPath(
          config,
          rib,
          w,
          isFirst,
          dir === "original" ? o.inInterface : (conn.lastOut.original as string),
        );
    return this.finish(config, w, decision, isFirst);
  }

  /** Packet arriving on an interface: prerouting, dstnat, routing, then input or forward+postrouting. */
  private arrivingPath(
    config: Config,
    rib: Rib,
    w: Work,
    isFirst: boolean,
    inInterface: string,
  ): RouteDecision {
    const { pkt, conn, dir } = w;
    pkt.inInterface = inInterface;
    this.mangle(config, w, "prerouting");
    if (isFirst) this.nat(config, w, "dstnat");
    else this.applyDstTranslation(w);
    w.path.push("nat:dstnat");
    const d = this.route(config, rib, pkt);
    w.path.push(d.kind === "local" ? "routing:local" : `routing:${d.table}`);
    if (isFirst && d.kind === "local") conn.destinedToRouter = true;
    if (d.kind === "drop") return d;
    if (d.kind === "local") {
      this.mangle(config, w, "input");
      if (dir === "reply" && conn.dstNat) pkt.src = oDstInt(conn);
      return d;
    }
    pkt.outInterface = d.interface;
    this.mangle(config, w, "forward");
    this.mangle(config, w, "postrouting");
    if (isFirst) this.nat(config, w, "srcnat", d);
    else this.applySrcTranslation(w);
    w.path.push("nat:srcnat");
    return d;
  }

  /** Packet generated by the router: routing, output, dstnat, re-route, postrouting, srcnat. */
  private localPath(config: Config, rib: Rib, w: Work, isFirst: boolean): RouteDecision {
    const { pkt, conn } = w;
    let d = this.route(config, rib, pkt);
    w.path.push(d.kind === "local" ? "routing:local" : `routing:${d.table}`);
    if (d.kind === "drop") return d;
    if (isFirst && w.dir === "original" && conn.original.src === "") {
      // The router picks the source from the route it found before any marking.
      const src =
        d.kind === "local"
          ? intToIp(pkt.dst)
          : interfaceAddress(config, d.interface as string, d.gateway, d.route?.prefSrc);
      if (!src) throw new Error(`no address on ${d.interface} to source router traffic from`);
      (conn.original as { src: string }).src = src;
      pkt.src = ipToInt(src);
    }
    pkt.outInterface = d.kind === "local" ? undefined : d.interface;
    this.mangle(config, w, "output");
    const dstBefore = pkt.dst;
    if (isFirst) this.nat(config, w, "dstnat");
    else this.applyDstTranslation(w);
    w.path.push("nat:dstnat");
    if (pkt.routingMark !== undefined || pkt.dst !== dstBefore) {
      d = this.route(config, rib, pkt);
      w.path.push(`reroute:${d.kind === "local" ? "local" : d.table}`);
      if (d.kind !== "forward") return d;
    }
    if (d.kind === "local") return d;
    pkt.outInterface = d.interface;
    this.mangle(config, w, "postrouting");
    if (isFirst) this.nat(config, w, "srcnat", d);
    else this.applySrcTranslation(w);
    w.path.push("nat:srcnat");
    return d;
  }

  /** Conntrack's translation of the destination for packets after the first. */
  private applyDstTranslation(w: Work): void {
    const { conn, pkt } = w;
    if (w.dir === "original" && conn.dstNat) {
      pkt.dst = ipToInt(conn.dstNat.address);
      if (conn.dstNat.port !== undefined) pkt.dstPort = conn.dstNat.port;
    } else if (w.dir === "reply" && conn.srcNat) {
      pkt.dst = conn.original.src === "" ? pkt.dst : ipToInt(conn.original.src);
      pkt.dstPort = conn.original.srcPort;
    }
  }

  /** Conntrack's translation of the source for packets after the first. */
  private applySrcTranslation(w: Work): void {
    const { conn, pkt } = w;
    if (w.dir === "original" && conn.srcNat) {
      pkt.src = ipToInt(conn.srcNat.address);
      if (conn.srcNat.port !== undefined) pkt.srcPort = conn.srcNat.port;
    } else if (w.dir === "reply" && conn.dstNat) {
      pkt.src = oDstInt(conn);
      pkt.srcPort = conn.original.dstPort;
    }
  }

  private env(config: Config, w: Work): MatchEnv {
    const lists = this.listSnapshot ?? this.dynamicLists;
    const now = this.now();
    return {
      pkt: w.pkt,
      conn: {
        get mark() {
          return w.conn.mark;
        },
        state: w.state,
        get srcNat() {
          return w.conn.srcNat !== undefined;
        },
        get dstNat() {
          return w.conn.dstNat !== undefined;
        },
      },
      inList: (name, ip) => {
        if ((config.staticLists.get(name) ?? []).some((r) => inRange(ip, r))) return true;
        const exp = lists.get(name)?.get(ip);
        return exp !== undefined && exp > now;
      },
      addressTypes: (ip) => addressTypes(config, ip),
      interfaceInList: (name, iface) =>
        iface !== undefined && (config.interfaceLists.get(name)?.has(iface) ?? false),
    };
  }

  private passthrough(rule: CompiledRule): boolean {
    const p = rule.props.passthrough;
    return p === undefined || p === "" ? this.defaultPassthrough : parseBool(p, true);
  }

  private addToList(rule: CompiledRule, ip: number): void {
    const name = rule.props["address-list"];
    const timeout = rule.props["address-list-timeout"];
    let ms = timeout === undefined ? Infinity : parseDuration(timeout);
    if (ms === 0) ms = Infinity; // old "00:00:00" meant "forever"
    const entries = this.dynamicLists.get(name) ?? new Map<number, number>();
    if (!entries.has(ip) || this.refresh) entries.set(ip, this.now() + ms);
    this.dynamicLists.set(name, entries);
  }

  private mangle(
    config: Config,
    w: Work,
    chain: "prerouting" | "input" | "forward" | "output" | "postrouting",
  ): void {
    w.path.push(`mangle:${chain}`);
    const env = this.env(config, w);
    runChain(
      config.mangle,
      chain,
      env,
      this.nthCounters,
      (rule) => {
        switch (rule.action) {
          case "mark-connection":
            w.conn.mark = rule.props["new-connection-mark"];
            break;
          case "mark-routing":
            w.pkt.routingMark = rule.props["new-routing-mark"];
            break;
          case "mark-packet":
            w.pkt.packetMark = rule.props["new-packet-mark"];
            break;
          case "add-src-to-address-list":
            this.addToList(rule, w.pkt.src);
            return "continue";
          case "add-dst-to-address-list":
            this.addToList(rule, w.pkt.dst);
            return "continue";
          default:
            if (!PASSTHROUGH_ACTIONS.has(rule.action))
              throw new ConfigError(`mangle action ${rule.action} not modelled`);
        }
        return this.passthrough(rule) ? "continue" : "stop";
      },
      { matched: w.matched },
    );
  }

  private nat(config: Config, w: Work, chain: "srcnat" | "dstnat", d?: RouteDecision): void {
    const env = this.env(config, w);
    const { pkt, conn } = w;
    runChain(
      config.nat,
      chain,
      env,
      this.nthCounters,
      (rule) => {
        const a = rule.action;
        if (a === "add-src-to-address-list" || a === "add-dst-to-address-list") {
          this.addToList(rule, a === "add-src-to-address-list" ? pkt.src : pkt.dst);
          return "continue";
        }
        if (chain === "dstnat") {
          if (a !== "dst-nat" && a !== "redirect" && a !== "netmap") {
            throw new ConfigError(`nat rule ${rule.id}: ${a} in the dstnat hook`);
          }
          const address =
            a === "redirect"
              ? (config.addresses.find((x) => x.interface === pkt.inInterface)?.address ?? 0x7f000001)
              : pickAddress(rule.props["to-addresses"], pkt, rule.id);
          const port = pickPort(rule.props["to-ports"], pkt.dstPort);
          conn.dstNat = { address: intToIp(address), port: port ?? pkt.dstPort };
          pkt.dst = address;
          if (port !== undefined) pkt.dstPort = port;
          return "stop";
        }
        if (a !== "masquerade" && a !== "src-nat" && a !== "same" && a !== "netmap") {
          throw new ConfigError(`nat rule ${rule.id}: ${a} in the srcnat hook`);
        }
        let address: string | undefined;
        if (a === "masquerade") {
          address = interfaceAddress(config, pkt.outInterface as string, d?.gateway, d?.route?.prefSrc);
          if (address === undefined) throw new ConfigError(`masquerade: no address on ${pkt.outInterface}`);
        } else {
          address = intToIp(pickAddress(rule.props["to-addresses"], pkt, rule.id));
        }
        const port = pickPort(rule.props["to-ports"], pkt.srcPort);
        conn.srcNat = { address, port: port ?? pkt.srcPort };
        pkt.src = ipToInt(address);
        if (port !== undefined) pkt.srcPort = port;
        return "stop";
      },
      { matched: w.matched },
    );
  }

  /**
   * The routing decision for one packet (see the module comment for the order of local delivery, marks,
   * rules and main).
   */
  private route(config: Config, rib: Rib, pkt: FwPacket): RouteDecision {
    const salt =
      this.major === 6 ? `#${Math.floor((this.now() - this.t0) / 600_000) + this.routeChanges}` : "";
    const flowKey = `${intToIp(pkt.src)}>${intToIp(pkt.dst)}${salt}`;
    const isLocal = config.local.has(pkt.dst) || pkt.dst >>> 24 === 127;
    const fromOutcome = (o: LookupOutcome, requested?: string): RouteDecision | undefined => {
      if (o.kind === "route") {
        return {
          kind: "forward",
          interface: o.interface,
          gateway: o.gateway,
          table: o.table,
          requestedTable: requested !== undefined && requested !== o.table ? requested : undefined,
          route: o.route,
        };
      }
      if (o.kind === "blocked") return { kind: "drop", table: o.table, reason: o.reason, route: o.route };
      return undefined;
    };
    const local: RouteDecision = { kind: "local", table: "local" };
    let requested: string | undefined;
    const mark = pkt.routingMark && pkt.routingMark !== "main" ? pkt.routingMark : undefined;
    const markLookup = (): RouteDecision | undefined => {
      if (mark === undefined) return undefined;
      if (this.major === 7 && !config.tables.has(mark)) {
        throw new ConfigError(`routing mark ${mark} names no /routing/table entry`);
      }
      requested = mark;
      const hit = fromOutcome(rib.lookup(mark, pkt.dst, flowKey));
      if (hit) return hit;
      if (this.fallback === "none") return { kind: "drop", table: mark, reason: `no route in table ${mark}` };
      return undefined;
    };
    const rulesLookup = (): RouteDecision | undefined => {
      for (const r of config.routingRules) {
        if (r.src && !inRange(pkt.src, r.src)) continue;
        if (r.dst && !inRange(pkt.dst, r.dst)) continue;
        if (r.routingMark !== undefined && r.routingMark !== pkt.routingMark) continue;
        if (r.interface !== undefined && r.interface !== pkt.inInterface) continue;
        if (r.action === "drop" || r.action === "unreachable") {
          return { kind: "drop", table: r.table, reason: `routing rule ${r.id}: ${r.action}` };
        }
        requested = requested ?? r.table;
        const hit = fromOutcome(rib.lookup(r.table, pkt.dst, flowKey), requested);
        if (hit) return hit;
        if (r.action === "lookup-only-in-table") {
          return { kind: "drop", table: r.table, reason: `routing rule ${r.id}: no route in ${r.table}` };
        }
      }
      return undefined;
    };
    let decision: RouteDecision | undefined;
    if (this.major === 6) {
      if (isLocal) return local;
      decision = rulesLookup() ?? markLookup();
    } else {
      decision = markLookup();
      if (decision) return decision;
      if (isLocal) return local;
      decision = rulesLookup();
    }
    if (decision) return decision;
    const main = fromOutcome(rib.lookup("main", pkt.dst, flowKey), requested);
    if (main) return main;
    return { kind: "drop", table: "main", requestedTable: requested, reason: "no route to host" };
  }

  private finish(config: Config, w: Work, d: RouteDecision, isFirst: boolean): PacketResult {
    const { pkt, conn, dir } = w;
    const outInterface = d.kind === "local" ? "local" : d.kind === "drop" ? "drop" : (d.interface as string);
    const res: PacketResult = {
      direction: dir,
      connectionState: w.state,
      outInterface,
      routingTable: d.table,
      matchedRules: w.matched,
      path: w.path,
      wire: { src: intToIp(pkt.src), dst: intToIp(pkt.dst), srcPort: pkt.srcPort, dstPort: pkt.dstPort },
    };
    if (d.gateway !== undefined && d.kind === "forward") res.gateway = intToIp(d.gateway);
    if (d.requestedTable !== undefined) res.requestedTable = d.requestedTable;
    if (conn.mark !== undefined) res.connectionMark = conn.mark;
    if (pkt.routingMark !== undefined) res.routingMark = pkt.routingMark;
    if (pkt.packetMark !== undefined) res.packetMark = pkt.packetMark;
    if (conn.srcNat) res.srcNat = conn.srcNat.address;
    if (conn.dstNat) res.dstNat = conn.dstNat.address;
    if (d.kind === "drop") {
      res.dropped = true;
      res.dropReason = d.reason;
    }
    if (d.kind === "forward") {
      const owns = config.addresses.some((a) => a.interface === outInterface && a.address === pkt.src);
      const routerMade =
        (dir === "original" && conn.srcNat !== undefined) ||
        (dir === "reply" && conn.dstNat !== undefined) ||
        (config.local.has(pkt.src) && res.gateway !== undefined);
      if (routerMade && !owns) res.sourceMismatch = true;
    }
    const firstOut = conn.firstOut[dir];
    if (firstOut === undefined) conn.firstOut[dir] = outInterface;
    else if (firstOut !== outInterface) res.rerouted = { from: firstOut, to: outInterface };
    conn.lastOut[dir] = outInterface;
    if (isFirst && dir === "original") conn.first = res;
    return res;
  }
}

function oDstInt(conn: Conn): number {
  return ipToInt(conn.original.dst);
}

/** RouterOS address types of `ip` as seen by this router. */
function addressTypes(config: Config, ip: number): Set<string> {
  if (config.local.has(ip) || ip >>> 24 === 127) return new Set(["local"]);
  if (config.broadcast.has(ip)) return new Set(["broadcast"]);
  if (ip >>> 28 === 14) return new Set(["multicast"]);
  return new Set(["unicast"]);
}

/** `to-addresses`: one address, or a range from which a connection gets a stable pick. */
function pickAddress(value: string | undefined, pkt: FwPacket, ruleId: string): number {
  if (!value) throw new ConfigError(`nat rule ${ruleId}: to-addresses is required`);
  const r = parseAddrRange(list(value)[0]);
  const span = r.hi - r.lo + 1;
  return span === 1 ? r.lo : r.lo + (hash32(intToIp(pkt.src)) % span);
}

/** `to-ports`: keep the original port when it is in range, else the range's first port. */
function pickPort(value: string | undefined, original: number | undefined): number | undefined {
  if (!value) return undefined;
  const [lo, hi] = parsePorts(value)[0];
  return original !== undefined && original >= lo && original <= hi ? original : lo;
}

/**
 * A `World` for tests: every target answers unless killed, either everywhere or only when reached via a
 * given immediate gateway. Records the probes it receives.
 */
export class ProbeWorld implements World {
  private readonly dead = new Set<string>();
  readonly probes: Array<{ target: string; via: ProbeVia }> = [];

  /** `target` stops answering (only via `viaGateway`, when given). */
  kill(target: string, viaGateway?: string): void {
    this.dead.add(viaGateway === undefined ? target : `${target}@${viaGateway}`);
  }

  revive(target: string, viaGateway?: string): void {
    this.dead.delete(viaGateway === undefined ? target : `${target}@${viaGateway}`);
  }

  answersPing(target: string, via: ProbeVia): boolean {
    if (this.probes.length < 10_000) this.probes.push({ target, via });
    return !this.dead.has(target) && !this.dead.has(`${target}@${via.gateway}`);
  }
}
