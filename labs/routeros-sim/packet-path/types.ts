/** Public types of the packet-path evaluator (re-exported by `../packet-path.ts`). */

/**
 * A router's configuration as the RouterOS API prints it: menu path to the entries in print order, every
 * value a string (`"true"`/`"false"`, `.id` like `"*1A"`, flags present with an empty value).
 *
 * Menus read: `/ip/address`, `/ip/firewall/mangle`, `/ip/firewall/nat`, `/ip/firewall/address-list`,
 * `/ip/route`, `/routing/table` (v7), `/ip/route/rule` (v6), `/routing/rule` (v7), `/routing/settings`
 * (v7, check-gateway timing), `/tool/netwatch`, `/interface/list/member`. Missing menus are empty.
 */
export type RosTables = Record<string, Array<Record<string, string>>>;

/** Where a probe is sent from: the immediate next hop and interface the router's route lookup chose. */
export interface ProbeVia {
  gateway: string;
  interface: string;
}

/** The outside world: which addresses answer the router's probes. */
export interface World {
  /** Does `target` answer an ICMP echo sent via this next hop? */
  answersPing(target: string, via: ProbeVia): boolean;
  /** For `check-gateway=arp`; defaults to `answersPing` when absent. */
  answersArp?(target: string, via: ProbeVia): boolean;
}

export type Protocol = "tcp" | "udp" | "icmp";

/** The first packet of a connection. */
export interface OpenPacket {
  /** Where it arrives: a LAN or uplink interface name, or `"router"` for locally originated traffic. */
  inInterface: string;
  /** Source address. May be omitted for router-originated packets: the initial route's source is used. */
  src?: string;
  dst: string;
  protocol?: Protocol;
  srcPort?: number;
  dstPort?: number;
}

export type Direction = "original" | "reply";
export type ConnectionState = "new" | "established";

/** An address and (for tcp/udp) a port. */
export interface Endpoint {
  address: string;
  port?: number;
}

/** Hooks a packet went through, in order, e.g. `mangle:prerouting`, `nat:dstnat`, `routing:main`. */
export type PathStep = string;

/** What happened to one packet. */
export interface PacketResult {
  direction: Direction;
  connectionState: ConnectionState;
  /** Interface the packet leaves by; `"local"` when delivered to the router itself; `"drop"` when dropped. */
  outInterface: string;
  /** Immediate next hop; absent when the destination is directly connected or the packet is local/dropped. */
  gateway?: string;
  /** Routing table whose route was used (`"main"` after a fallback); `"local"` for local delivery. */
  routingTable: string;
  /** Table the packet's routing mark (or a routing rule) asked for, when it differs from `routingTable`. */
  requestedTable?: string;
  /** Connection mark in conntrack after this packet. */
  connectionMark?: string;
  /** Routing mark of this packet (per packet; not stored in conntrack). */
  routingMark?: string;
  packetMark?: string;
  /** The connection's translated source (original direction), as fixed by its first packet. */
  srcNat?: string;
  /** The connection's translated destination (original direction). */
  dstNat?: string;
  /** The packet as it leaves the router (after NAT), or as delivered locally. */
  wire: { src: string; dst: string; srcPort?: number; dstPort?: number };
  /** `.id`s (or `menu#index` when a rule has no `.id`) of mangle and nat rules that matched, in order. */
  matchedRules: string[];
  path: PathStep[];
  dropped?: boolean;
  dropReason?: string;
  /**
   * The packet leaves with a source address that the out-interface does not own: the connection's NAT was
   * fixed by its first packet (conntrack keeps it) but the connection is now routed elsewhere. Upstream
   * drops such packets, so the connection is effectively broken (seed 002's route-cache problem).
   */
  sourceMismatch?: boolean;
  /** Out-interface differs from the one this connection's first packet in this direction used. */
  rerouted?: { from: string; to: string };
}

/** A tracked connection. */
export interface Flow {
  readonly id: number;
  /** Result for the first packet. */
  readonly first: PacketResult;
  /** The tuple as opened (before NAT). */
  readonly original: {
    inInterface: string;
    src: string;
    dst: string;
    protocol: Protocol;
    srcPort?: number;
    dstPort?: number;
  };
  /** Connection mark currently stored in conntrack. */
  readonly connectionMark: string | undefined;
  readonly state: ConnectionState;
  readonly srcNat?: Endpoint;
  readonly dstNat?: Endpoint;
  /** The connection terminates on the router (input chain). */
  readonly destinedToRouter: boolean;
  /** The connection was opened by the router (output chain). */
  readonly originatedByRouter: boolean;
}

export interface DynamicAddressListEntry {
  list: string;
  address: string;
  /** Milliseconds on the evaluator's clock; `Infinity` for `none-dynamic` / `none-static`. */
  expiresAt: number;
}

export interface PacketPathOptions {
  major: 6 | 7;
  world: World;
  /** Clock in milliseconds; defaults to an internal clock starting at 0. `advance()` adds to it either way. */
  now?: () => number;
  /**
   * `"timed"` (default): check-gateway probes every `check-gateway-ping-interval` (10 s), a gateway goes
   * down after `check-gateway-ping-count` (2) consecutive misses and comes back after one answer.
   * `"instant"`: a gateway is up exactly when the world answers it right now.
   */
  checkGateway?: "timed" | "instant";
  /**
   * What a lookup in a marked table does when that table has no active route for the destination:
   * `"main"` (default) continues in the main table, as RouterOS does for mangle routing marks and
   * `action=lookup` rules; `"none"` drops (the `lookup-only-in-table` behaviour).
   */
  markedTableFallback?: "main" | "none";
  /** Passthrough of marking actions when a rule does not print it (RouterOS default before 7.19: yes). */
  defaultPassthrough?: boolean;
  /** Re-adding an address already in a dynamic list refreshes its timeout (default true). */
  refreshAddressListTimeout?: boolean;
  /** Matchers the model does not implement: throw (default) or treat as matching. */
  unsupportedMatchers?: "throw" | "ignore";
  /**
   * The device the tables come from, for what the router itself writes: netwatch scripts' `enable` /
   * `disable` (attributes in input form), and netwatch status. Without it a script that writes fails.
   */
  device?: {
    set(menu: string, id: string, attrs: Record<string, string>): void;
    netwatchStatus?(id: string, status: "up" | "down" | "unknown"): void;
  };
}
