/**
 * Route activity and lookup over one configuration snapshot.
 *
 * - Connected routes are implicit from `/ip/address` (table main, distance 0, scope 10).
 * - A route is active when it is enabled, at least one of its gateways resolves, and (with
 *   `check-gateway`) that gateway is currently considered reachable.
 * - Gateway resolution: a directly connected gateway (inside an active connected network) resolves to
 *   that interface; otherwise the gateway is looked up recursively among active routes whose `scope` is
 *   at most this route's `target-scope` (defaults: scope 30, target-scope 10; connected routes scope 10),
 *   so a default route (scope 30) never resolves a gateway unless target-scope >= 30. Resolution looks in
 *   `gateway@table` when given; otherwise v6 resolves in main, v7 in the route's own table, then main.
 * - Lookup: longest prefix among active routes of the table, then lowest distance. v6 ECMP is one route
 *   with several gateways (a repeated gateway weighs more); v7 ECMP is several active routes with the
 *   same dst-address and distance. The member is chosen by a hash of (src, dst) over the members whose
 *   gateway is currently reachable.
 */
import type { Config, GatewaySpec, RouteEntry } from "./config";
import { hash32 } from "./hash";
import type { ProbeVia } from "./types";
import { inRange, intToIp } from "./values";

/** One usable next hop of an active route. */
export interface Member {
  route: RouteEntry;
  gateway?: GatewaySpec;
  /** Immediate next hop (undefined: directly connected destination or interface gateway). */
  immediate?: number;
  interface: string;
}

interface RouteState {
  active: boolean;
  members: Member[];
}

export type LookupOutcome =
  | { kind: "route"; table: string; route: RouteEntry; interface: string; gateway?: number }
  | { kind: "blocked"; table: string; route: RouteEntry; reason: string }
  | { kind: "miss"; table: string; note?: string };

export interface RibOptions {
  /** Is this gateway of this route considered reachable (check-gateway routes only)? */
  gatewayUp(route: RouteEntry, gateway: GatewaySpec, via: ProbeVia): boolean;
  downInterfaces: ReadonlySet<string>;
}

export class Rib {
  private readonly memo = new Map<RouteEntry, RouteState | "busy">();

  constructor(
    readonly config: Config,
    private readonly opts: RibOptions,
  ) {}

  /** Whether the route is active and its usable next hops. */
  state(route: RouteEntry): RouteState {
    const cached = this.memo.get(route);
    if (cached === "busy") return { active: false, members: [] }; // resolution loop
    if (cached) return cached;
    this.memo.set(route, "busy");
    const result = this.computeState(route);
    this.memo.set(route, result);
    return result;
  }

  private computeState(route: RouteEntry): RouteState {
    if (route.disabled) return { active: false, members: [] };
    if (route.connected) {
      const up = !this.opts.downInterfaces.has(route.connected.interface);
      return { active: up, members: up ? [{ route, interface: route.connected.interface }] : [] };
    }
    if (route.type !== "unicast") return { active: true, members: [] };
    const members: Member[] = [];
    for (const gw of route.gateways) {
      const r = this.resolve(route, gw);
      if (!r) continue;
      if (route.checkGateway) {
        const via = {
          gateway: intToIp(r.immediate ?? (gw.kind === "ip" ? gw.ip : 0)),
          interface: r.interface,
        };
        if (!this.opts.gatewayUp(route, gw, via)) continue;
      }
      members.push({ route, gateway: gw, immediate: r.immediate, interface: r.interface });
    }
    return { active: members.length > 0, members };
  }

  /** Resolves a gateway of `route` to the immediate next hop and interface, ignoring check-gateway. */
  resolve(route: RouteEntry, gw: GatewaySpec): { immediate?: number; interface: string } | undefined {
    if (gw.kind === "iface") {
      return this.opts.downInterfaces.has(gw.iface) ? undefined : { interface: gw.iface };
    }
    if (gw.iface) {
      return this.opts.downInterfaces.has(gw.iface) ? undefined : { immediate: gw.ip, interface: gw.iface };
    }
    const tables = gw.resolveTable
      ? [gw.resolveTable]
      : this.config.major === 7 && route.table !== "main"
        ? [route.table, "main"]
        : ["main"];
    for (const table of tables) {
      const candidates = this.config.routes.filter(
        (c) => c !== route && c.table === table && c.scope <= route.targetScope && inRange(gw.ip, c.dst),
      );
      const best = this.best(candidates.filter((c) => this.state(c).active));
      if (best.length === 0) continue;
      const via = best[0];
      if (via.connected) return { immediate: gw.ip, interface: via.connected.interface };
      if (via.type !== "unicast") return undefined;
      const m = this.state(via).members[0];
      return { immediate: m.immediate ?? gw.ip, interface: m.interface };
    }
    return undefined;
  }

  /** The routes that win longest-prefix then lowest distance, in print order. */
  private best(candidates: RouteEntry[]): RouteEntry[] {
    if (candidates.length === 0) return [];
    const prefix = Math.max(...candidates.map((c) => c.dst.prefix));
    const longest = candidates.filter((c) => c.dst.prefix === prefix);
    const distance = Math.min(...longest.map((c) => c.distance));
    return longest.filter((c) => c.distance === distance);
  }

  /** Looks `dst` up in one table. `flowKey` picks the ECMP member. */
  lookup(table: string, dst: number, flowKey: string): LookupOutcome {
    if (this.config.major === 7 && table !== "main" && !this.config.tables.get(table)?.fib) {
      return {
        kind: "miss",
        table,
        note: `routing table ${table} has no fib flag: its routes are not in the FIB`,
      };
    }
    const candidates = this.config.routes.filter(
      (r) => r.table === table && inRange(dst, r.dst) && this.state(r).active,
    );
    const best = this.best(candidates);
    if (best.length === 0) return { kind: "miss", table };
    const first = best[0];
    if (first.type !== "unicast")
      return { kind: "blocked", table, route: first, reason: `${first.type} route` };
    if (first.connected) return { kind: "route", table, route: first, interface: first.connected.interface };
    const members =
      this.config.major === 7
        ? best.filter((r) => r.type === "unicast").flatMap((r) => this.state(r).members)
        : this.state(first).members;
    const m = members[hash32(flowKey) % members.length];
    return { kind: "route", table, route: m.route, interface: m.interface, gateway: m.immediate };
  }

  /** Active routes and their usable gateways, for change detection and for tests. */
  signature(): string {
    return this.config.routes
      .map((r) => {
        const s = this.state(r);
        return `${r.key}:${s.active ? "A" : "-"}:${s.members.map((m) => m.gateway?.text ?? m.interface).join(",")}`;
      })
      .join(";");
  }
}
