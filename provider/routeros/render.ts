/**
 * Plan → the RouterOS entries this resource owns, per menu, in order, with canonical (v7) property names
 * and input-form values. Every entry carries the ownership comment "lbgw:<owner>:<key>"; the key is stable
 * across updates so the reconciler can change an entry in place instead of replacing it.
 *
 * How a LAN connection is balanced (mangle, prerouting, in this order):
 *   inbound   a connection arriving on an uplink is bound to it (its replies leave the same way)
 *   pin       pinned destinations are bound to their link
 *   sticky    a user in a link's sticky list goes to that link's pick chain
 *   classify  one rule per slot: nth (or pcc) picks a link's pick chain for new, still unbound connections
 *   route     a bound connection's packets get the routing mark of its link
 * The pick chain binds the connection (connection mark) and records the user (sticky list). Classifier
 * rules match only `connection-mark=no-mark`, so a user already in a sticky list never reaches them: no
 * user can be in two sticky lists (the flaw of seeds 000/001). nth therefore counts down: slot k of N
 * uses nth=(N-k+1),1, since each rule sees only what the rules before it left unbound.
 * In postrouting the egress chain rebinds a new connection to the link it actually leaves by (a failover
 * route, or ECMP), so it keeps that link when routes change or its intended link recovers.
 */
import type { Plan, PlanLink } from "../plan/plan";
import { linkByName } from "../plan/plan";
import type { RosVersion } from "./menus";
import { formatRosDuration } from "./values";

export interface DesiredEntry {
  /** Stable identity inside this resource; the ownership comment is "lbgw:<owner>:<key>". */
  key: string;
  attrs: Record<string, string>;
}

export type DesiredState = Record<string, DesiredEntry[]>;

export function ownershipPrefix(owner: string): string {
  return `lbgw:${owner}:`;
}

/** Probes run beyond the first hop: the default route of a link resolves through its probe target. */
const PROBE_TARGET_SCOPE = "11";
const PROBE_HOST_SCOPE = "10";

export function renderRouterOs(plan: Plan, version: RosVersion): DesiredState {
  const P = plan.prefix;
  const names = {
    lanList: `${P}-lan`,
    direct: `${P}-direct`,
    ecmp: `${P}-ecmp`,
    egress: `${P}-egress`,
    pick: (l: string) => `${P}-pick-${l}`,
    sticky: (l: string) => `${P}-sticky-${l}`,
  };
  const link = (name: string) => linkByName(plan, name);
  const lanIn = { "in-interface-list": names.lanList };
  const unbound = { "connection-state": "new", "connection-mark": "no-mark" };
  const balanced = { "dst-address-list": `!${names.direct}`, "dst-address-type": "!local" };
  const bind = (l: PlanLink) => ({
    action: "mark-connection",
    "new-connection-mark": l.mark,
    passthrough: "yes",
  });

  const state: DesiredState = {};
  const add = (menuPath: string, key: string, attrs: Record<string, string>) =>
    (state[menuPath] ??= []).push({
      key,
      attrs: { ...attrs, comment: `${ownershipPrefix(plan.owner)}${key}` },
    });

  // Interface list for the LAN side: every rule matches it, whatever the number of LAN interfaces.
  add("/interface/list", "lan", { name: names.lanList });
  for (const i of plan.lan.interfaces)
    add("/interface/list/member", `lan:${i}`, { list: names.lanList, interface: i });
  for (const d of plan.direct)
    add("/ip/firewall/address-list", `direct:${d}`, { list: names.direct, address: d });

  if (version === 7) {
    for (const l of plan.links) add("/routing/table", `table:${l.name}`, { name: l.mark, fib: "" });
    if (plan.strategy === "ecmp") add("/routing/table", "table:ecmp", { name: names.ecmp, fib: "" });
  }

  // Routes. Probe targets are host routes through their link's gateway; every default route resolves
  // through a probe target (recursive, check-gateway=ping), so it goes inactive when the target stops
  // answering through that link, and the next distance (the fallback link) takes over.
  for (const l of plan.links)
    for (const t of l.check.targets)
      add("/ip/route", `probe:${l.name}:${t}`, {
        "dst-address": `${t}/32`,
        gateway: l.gateway,
        scope: PROBE_HOST_SCOPE,
      });
  const viaTargets = (order: PlanLink[]) =>
    order.flatMap((l) => l.check.targets.map((t, j) => ({ l, t, j })));
  const defaultRoute = (gateway: string, distance: number, table?: string) => ({
    "dst-address": "0.0.0.0/0",
    gateway,
    "target-scope": PROBE_TARGET_SCOPE,
    "check-gateway": "ping",
    distance: String(distance),
    ...(table ? { "routing-table": table } : {}),
  });
  for (const l of plan.links)
    viaTargets([l, ...l.fallback.map(link)]).forEach(({ l: via, t, j }, n) =>
      add("/ip/route", `route:${l.name}:${via.name}:${j}`, defaultRoute(t, n + 1, l.mark)),
    );
  // The router's own traffic (unmarked): main table, its link first, then the fallbacks.
  const rt = link(plan.routerTraffic);
  viaTargets([rt, ...rt.fallback.map(link)]).forEach(({ l: via, t, j }, n) =>
    add("/ip/route", `route:main:${via.name}:${j}`, defaultRoute(t, n + 1)),
  );
  if (plan.strategy === "ecmp") renderEcmpRoutes(plan, version, names.ecmp, add, defaultRoute);

  for (const l of plan.links)
    add(
      "/ip/firewall/nat",
      `nat:${l.name}`,
      l.nat.kind === "masquerade"
        ? { chain: "srcnat", "out-interface": l.interface, action: "masquerade" }
        : { chain: "srcnat", "out-interface": l.interface, action: "src-nat", "to-addresses": l.nat.address },
    );

  const mangle = (key: string, attrs: Record<string, string>) => add("/ip/firewall/mangle", key, attrs);
  if (plan.inboundSymmetry)
    for (const l of plan.links)
      mangle(`inbound:${l.name}`, {
        chain: "prerouting",
        "in-interface": l.interface,
        ...unbound,
        ...bind(l),
      });
  plan.pins.forEach((p, i) =>
    mangle(`pin:${i}`, {
      chain: "prerouting",
      ...lanIn,
      ...unbound,
      "dst-address": p.destination,
      ...bind(link(p.link)),
    }),
  );
  const toPick = (l: string) => ({ action: "jump", "jump-target": names.pick(l), passthrough: "yes" });
  if (plan.strategy === "ecmp") {
    // New connections take the ECMP table; the egress chain then binds them to the link they left by.
    mangle("classify:ecmp", {
      chain: "prerouting",
      ...lanIn,
      ...unbound,
      ...balanced,
      action: "mark-routing",
      "new-routing-mark": names.ecmp,
      passthrough: "yes",
    });
  } else {
    if (plan.sticky)
      for (const l of plan.primary)
        mangle(`sticky:${l}`, {
          chain: "prerouting",
          ...lanIn,
          ...unbound,
          "src-address-list": names.sticky(l),
          ...balanced,
          ...toPick(l),
        });
    const N = plan.slots.length;
    plan.slots.forEach((l, i) => {
      const selector: Record<string, string> =
        plan.strategy === "pcc"
          ? { "per-connection-classifier": `${plan.hash}:${N}/${i}` }
          : N - i > 1
            ? { nth: `${N - i},1` }
            : {};
      mangle(`classify:${i + 1}`, {
        chain: "prerouting",
        ...lanIn,
        ...unbound,
        ...balanced,
        ...selector,
        ...toPick(l),
      });
    });
  }
  for (const l of plan.links)
    mangle(`route:${l.name}`, {
      chain: "prerouting",
      ...lanIn,
      "connection-mark": l.mark,
      "dst-address-list": `!${names.direct}`,
      action: "mark-routing",
      "new-routing-mark": l.mark,
      passthrough: "yes",
    });
  for (const l of plan.links)
    mangle(`output:${l.name}`, {
      chain: "output",
      "connection-mark": l.mark,
      "dst-address-list": `!${names.direct}`,
      action: "mark-routing",
      "new-routing-mark": l.mark,
      passthrough: "yes",
    });
  const egressJump = {
    chain: "postrouting",
    "connection-state": "new",
    action: "jump",
    "jump-target": names.egress,
    passthrough: "yes",
  };
  // Unbound: ECMP and the router's own connections. Direct destinations (e.g. an ISP gateway) stay unbound.
  mangle("egress:unbound", {
    ...egressJump,
    "connection-mark": "no-mark",
    "dst-address-list": `!${names.direct}`,
  });
  for (const l of plan.links) mangle(`egress:from:${l.name}`, { ...egressJump, "connection-mark": l.mark });
  for (const l of plan.links)
    mangle(`egress:${l.name}`, { chain: names.egress, "out-interface": l.interface, ...bind(l) });
  if (plan.strategy !== "ecmp")
    for (const name of plan.primary) {
      mangle(`pick:${name}`, { chain: names.pick(name), ...bind(link(name)) });
      if (plan.sticky)
        mangle(`pick:${name}:sticky`, {
          chain: names.pick(name),
          action: "add-src-to-address-list",
          "address-list": names.sticky(name),
          "address-list-timeout": formatRosDuration(plan.sticky.timeoutMs),
          passthrough: "yes",
        });
    }
  return state;
}

/**
 * ECMP over the primary links' first probe targets, backup tiers at higher distances. v6 takes one route
 * with a gateway list (a gateway repeated once per weight unit); v7 takes one route per gateway.
 */
function renderEcmpRoutes(
  plan: Plan,
  version: RosVersion,
  table: string,
  add: (menu: string, key: string, attrs: Record<string, string>) => void,
  defaultRoute: (gateway: string, distance: number, table?: string) => Record<string, string>,
): void {
  const primary = plan.links.filter((l) => plan.primary.includes(l.name));
  const backups = plan.links.filter((l) => !plan.primary.includes(l.name)).sort((a, b) => a.tier - b.tier);
  if (version === 6) {
    const weights = primary.map((l) => plan.slots.filter((s) => s === l.name).length);
    const gateways = primary.flatMap((l, i) => Array<string>(weights[i]).fill(l.check.targets[0]));
    add("/ip/route", "route:ecmp", defaultRoute(gateways.join(","), 1, table));
  } else {
    for (const l of primary)
      add("/ip/route", `route:ecmp:${l.name}`, defaultRoute(l.check.targets[0], 1, table));
  }
  backups.forEach((l, i) =>
    add("/ip/route", `route:ecmp:${l.name}`, defaultRoute(l.check.targets[0], i + 2, table)),
  );
}
