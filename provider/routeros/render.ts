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
 *   sticky:refresh  every packet of a user's bound connections restarts its sticky entry's timeout
 * The pick chain binds the connection (connection mark). Classifier rules match only
 * `connection-mark=no-mark`, so a user already in a sticky list never reaches them: no user can be in two
 * sticky lists (the flaw of seeds 000/001). nth therefore counts down: slot k of N uses nth=(N-k+1),1,
 * since each rule sees only what the rules before it left unbound.
 * In output, the router's own new connections to a pinned destination are bound to the pinned link (not
 * ICMP: a netwatch probe to a check target a pin covers keeps its own link's host route), and bound
 * connections (those and replies to inbound ones) get their link's routing mark.
 * In postrouting the egress chain rebinds a new connection to the link it actually leaves by (a failover
 * route, or ECMP), so it keeps that link when routes change or its intended link recovers; then
 * `egress:<link>:sticky` records the user in that link's sticky list (LAN sources only, not for pinned
 * destinations). A link that goes down forgets its sticky users (its netwatch script, netwatch.ts), so a
 * user moved by a failover ends up in the list of the link it really uses, and stays there after the
 * recovery until it has been idle for the timeout: one public address, one list.
 */
import type { Plan, PlanLink } from "../plan/plan";
import { linkByName } from "../plan/plan";
import type { RosVersion } from "./menus";
import { addressOf, netwatchEntries, probeTable, routeKey, sharedTargets, stickyListOf } from "./netwatch";
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
    pinned: `${P}-pinned`,
    pick: (l: string) => `${P}-pick-${l}`,
    sticky: (l: string) => `${P}-sticky-${l}`,
  };
  const link = (name: string) => linkByName(plan, name);
  /** Links with a sticky list (all of them, with sticky). */
  const stickyLinks = plan.links.filter((l) => stickyListOf(plan, l) !== undefined).map((l) => l.name);
  const lanIn = { "in-interface-list": names.lanList };
  const unbound = { "connection-state": "new", "connection-mark": "no-mark" };
  const balanced = { "dst-address-list": `!${names.direct}`, "dst-address-type": "!local" };
  const bind = (l: PlanLink) => ({
    action: "mark-connection",
    "new-connection-mark": l.mark,
    passthrough: "yes",
  });

  const stickyAdd = (l: string, timeoutMs: number) => ({
    action: "add-src-to-address-list",
    "address-list": names.sticky(l),
    "address-list-timeout": formatRosDuration(timeoutMs),
    passthrough: "yes",
  });

  const state: DesiredState = {};
  const add = (menuPath: string, key: string, attrs: Record<string, string>) =>
    (state[menuPath] ??= []).push({
      key,
      attrs: { ...attrs, comment: `${ownershipPrefix(plan.owner)}${key}` },
    });

  // The spec record, for `pulumi import` (common/record.ts): a script that is one comment line. It grants
  // only `read` (a new script would get every policy), and nothing ever runs it.
  add("/system/script", "spec", { name: `${P}-spec`, source: plan.record, policy: "read" });
  // Interface list for the LAN side: every rule matches it, whatever the number of LAN interfaces.
  add("/interface/list", "lan", { name: names.lanList });
  for (const i of plan.lan.interfaces)
    add("/interface/list/member", `lan:${i}`, { list: names.lanList, interface: i });
  for (const d of plan.direct)
    add("/ip/firewall/address-list", `direct:${d}`, { list: names.direct, address: d });
  // Pinned destinations, which the egress chain does not record as sticky users' choice.
  if (plan.sticky && plan.strategy !== "ecmp")
    for (const d of new Set(plan.pins.map((p) => p.destination)))
      add("/ip/firewall/address-list", `pinned:${d}`, { list: names.pinned, address: d });

  if (version === 7) {
    for (const l of plan.links) add("/routing/table", `table:${l.name}`, { name: l.mark, fib: "" });
    if (plan.strategy === "ecmp") add("/routing/table", "table:ecmp", { name: names.ecmp, fib: "" });
  }

  // Routes. Probe targets are host routes through their link's gateway (the netwatch probes' path). Each
  // table has one default route per (link, target) through the link's gateway, its link's first, then the
  // fallbacks' at higher distances; the netwatch probe of a target disables the routes of that target while
  // it fails (netwatch.ts), so a link carries traffic while any of its targets answers.
  const shared = version === 7 ? sharedTargets(plan) : new Set<string>();
  for (const l of plan.links) {
    const own = l.check.targets.filter((t) => shared.has(t));
    // A target several links probe: from each link's address, through its probe table (netwatch.ts).
    if (own.length) add("/routing/table", `table:probe:${l.name}`, { name: probeTable(l), fib: "" });
    for (const t of l.check.targets) {
      add("/ip/route", `probe:${l.name}:${t}`, {
        "dst-address": `${t}/32`,
        gateway: l.gateway,
        scope: PROBE_HOST_SCOPE,
        ...(shared.has(t) ? { "routing-table": probeTable(l) } : {}),
      });
      if (shared.has(t))
        add("/routing/rule", `probe:${l.name}:${t}`, {
          "src-address": `${addressOf(l.interface)}/32`,
          "dst-address": `${t}/32`,
          action: "lookup-only-in-table",
          table: probeTable(l),
        });
    }
  }
  const viaTargets = (order: PlanLink[]) =>
    order.flatMap((l) => l.check.targets.map((t, j) => ({ l, t, j })));
  const defaultRoute = (gateway: string, distance: number, table?: string) => ({
    "dst-address": "0.0.0.0/0",
    gateway,
    distance: String(distance),
    ...(table ? { "routing-table": table } : {}),
  });
  for (const l of plan.links)
    viaTargets([l, ...l.fallback.map(link)]).forEach(({ l: via, j }, n) =>
      add("/ip/route", routeKey(l.name, via.name, j), defaultRoute(via.gateway, n + 1, l.mark)),
    );
  // The router's own traffic (unmarked): main table, its link first, then the fallbacks.
  const rt = link(plan.routerTraffic);
  viaTargets([rt, ...rt.fallback.map(link)]).forEach(({ l: via, j }, n) =>
    add("/ip/route", routeKey("main", via.name, j), defaultRoute(via.gateway, n + 1)),
  );
  if (plan.strategy === "ecmp") renderEcmpRoutes(plan, version, names.ecmp, add, defaultRoute);
  for (const w of netwatchEntries(plan, version)) add("/tool/netwatch", w.key, w.attrs);

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
    // Every link keeps its users, backup tiers too: a user moved to a backup while every link of the best
    // tier is down stays there after they recover, until idle.
    for (const l of stickyLinks)
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
  // Sticky is an idle timeout: any packet of a user's bound LAN connection re-adds the user to the sticky
  // list it is in, which restarts the entry's timeout (the egress chain's entry alone would count from the
  // user's last new connection). Matching the list first means a refresh never creates an entry.
  const timeoutMs = plan.sticky ? plan.sticky.timeoutMs : undefined;
  if (timeoutMs !== undefined)
    for (const name of stickyLinks)
      mangle(`sticky:refresh:${name}`, {
        chain: "prerouting",
        ...lanIn,
        "connection-mark": "!no-mark",
        "src-address-list": names.sticky(name),
        ...stickyAdd(name, timeoutMs),
      });
  // The router's own new connections to a pinned destination (seed 002: the router, as the LAN's DNS
  // resolver, asks the ISP's server) are bound to the pinned link like the LAN's; output:<link> below then
  // routes them by its table (with its fallbacks). The source the router picked from the main table is
  // fixed by the link's srcnat rule (out-interface), and the egress chain rebinds them like any other.
  // Not ICMP, as in egress:unbound: a netwatch probe to a check target that a pin covers would otherwise
  // be routed by the pinned link's table, through a fallback while its own link is down (it would look up).
  plan.pins.forEach((p, i) =>
    mangle(`pin:${i}:output`, {
      chain: "output",
      protocol: "!icmp",
      ...unbound,
      "dst-address": p.destination,
      ...balanced,
      ...bind(link(p.link)),
    }),
  );
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
  // Unbound: ECMP and the router's own connections. Direct destinations (e.g. an ISP gateway) stay unbound,
  // and so does ICMP: a netwatch probe's echoes may share one ICMP connection, and a mark on it would route
  // them by the link's table, through a fallback link while the probed link is down (it would look up).
  mangle("egress:unbound", {
    ...egressJump,
    protocol: "!icmp",
    "connection-mark": "no-mark",
    "dst-address-list": `!${names.direct}`,
  });
  for (const l of plan.links) mangle(`egress:from:${l.name}`, { ...egressJump, "connection-mark": l.mark });
  // A LAN user is recorded in the sticky list of the link its new connection really leaves by (a failover
  // route may take it elsewhere than its pick chain bound it), not the router's own connections (local
  // source) nor pinned ones (a pin is no choice of link). The netwatch script of a link that goes down
  // forgets that link's users (netwatch.ts), so a user moved by a failover is in the list of the link it
  // then uses only, and stays there after recovery until it has been idle for the timeout.
  for (const l of plan.links) {
    mangle(`egress:${l.name}`, { chain: names.egress, "out-interface": l.interface, ...bind(l) });
    if (timeoutMs !== undefined && stickyListOf(plan, l) !== undefined)
      mangle(`egress:${l.name}:sticky`, {
        chain: names.egress,
        "out-interface": l.interface,
        "src-address-type": "!local",
        ...(plan.pins.length ? { "dst-address-list": `!${names.pinned}` } : {}),
        ...stickyAdd(l.name, timeoutMs),
      });
  }
  if (plan.strategy !== "ecmp")
    for (const name of new Set([...plan.primary, ...stickyLinks]))
      mangle(`pick:${name}`, { chain: names.pick(name), ...bind(link(name)) });
  return state;
}

/**
 * ECMP over the primary links, backup tiers at higher distances. v7 takes one route per link, through its
 * gateway, toggled by the probe of the link's first target (netwatch.ts). v6 takes one route with a gateway
 * list (a gateway repeated once per weight unit), which no script can toggle per link: its gateways are the
 * links' first probe targets, recursive with check-gateway=ping (RouterOS's fixed ~20 s).
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
    const recursive = (gateway: string, distance: number) => ({
      ...defaultRoute(gateway, distance, table),
      "target-scope": PROBE_TARGET_SCOPE,
      "check-gateway": "ping",
    });
    const weights = primary.map((l) => plan.slots.filter((s) => s === l.name).length);
    const gateways = primary.flatMap((l, i) => Array<string>(weights[i]).fill(l.check.targets[0]));
    add("/ip/route", "route:ecmp", recursive(gateways.join(","), 1));
    backups.forEach((l, i) => add("/ip/route", `route:ecmp:${l.name}`, recursive(l.check.targets[0], i + 2)));
  } else {
    for (const l of primary) add("/ip/route", routeKey("ecmp", l.name, 0), defaultRoute(l.gateway, 1, table));
    backups.forEach((l, i) =>
      add("/ip/route", routeKey("ecmp", l.name, 0), defaultRoute(l.gateway, i + 2, table)),
    );
  }
}
