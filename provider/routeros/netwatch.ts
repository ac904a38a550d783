/**
 * Failover on RouterOS: one owned `/tool/netwatch` probe per link and check target, whose scripts disable
 * the owned default routes that go through that link for that target (found by their comment), and enable
 * them again. The probe's timing is the link's `check` (interval, timeout); nothing global is changed
 * (check-gateway's timing lives in `/routing/settings`, which belongs to the operator).
 *
 * Each table holds one route per (link, target) at increasing distances (render.ts), so a link carries
 * traffic while any of its targets answers, as on Linux; a probe only toggles the routes of its own target.
 *
 * RouterOS 7 (typed probes and `test-script` since 7.4, help.mikrotik.com "Netwatch"): an `icmp` probe of
 * one echo per test, so a test is one round. Netwatch's own status has no hysteresis (one good test is
 * "up"), so the test-script counts rounds in a global variable (netwatch scripts run as the `*sys` user and
 * share its globals): `failAfter` failed rounds in a row disable the routes, `recoverAfter` good rounds in a
 * row enable them. Every round also re-applies the state to routes that disagree (a route added by an
 * apply while its link is down is disabled one round later). RTT thresholds (whose defaults apply even
 * when unset) are raised to the timeout, so only a missing answer fails a round.
 *
 * RouterOS 6: netwatch has only up/down scripts, run when one probe changes the status: the routes follow
 * the last probe (failAfter and recoverAfter are 1; see `approximations`).
 *
 * With sticky users, the round that takes a target down (v7 test-script) or the down-script (v6) also
 * forgets the link's sticky users once no route through the link is enabled any more (its last target):
 * `/ip firewall address-list remove [find list="<sticky list>" dynamic=yes]` (write policy). They are then
 * recorded by the link their next connection really leaves by (render.ts, egress chain).
 *
 * Scripts run with read,write,test,reboot policy (help.mikrotik.com "Netwatch"); they only read netwatch
 * and routes, enable/disable routes and remove sticky entries (write), so the API user's group needs no
 * more than it has.
 */
import { createHash } from "node:crypto";
import type { Plan, PlanLink } from "../plan/plan";
import type { RosVersion } from "./menus";
import type { PrintedEntry } from "./reconcile";
import type { DesiredState } from "./render";
import { formatRosDuration } from "./values";

/** Key of the probe of `link`'s target number `j` (comment `lbgw:<owner>:watch:<link>:<j>`). */
export const watchKey = (link: string, j: number): string => `watch:${link}:${j}`;

/** Key of a default route in `table` through `via` for its target number `j`. */
export const routeKey = (table: string, via: string, j: number): string => `route:${table}:${via}:${j}`;

/** The comment prefix of owned entries (render.ts's `ownershipPrefix`, repeated to avoid an import cycle). */
const ownershipPrefix = (owner: string): string => `lbgw:${owner}:`;

/** Down state of the round counter: values at or above it (100 + good rounds since the link went down). */
const DOWN = 100;

/**
 * POSIX regular expression matching the comments of every route through `link` for target `j`, whatever
 * its table (route keys have no other colons: link and table names cannot hold one).
 */
export function routesPattern(owner: string, link: string, j: number): string {
  // "." is the only regex character a link name may hold; in brackets it needs no backslash.
  const literal = link.replace(/\./g, "[.]");
  // Unanchored at the end: a target number is one digit, and a route key ends with it.
  return `^${ownershipPrefix(owner)}route:[^:]+:${literal}:${j}`;
}

/** The global holding a probe's round counter: letters and digits only (no quoting), unique per probe. */
export function counterName(owner: string, link: string, j: number): string {
  return `lbgw${createHash("sha1").update(`${owner}:${link}:${j}`).digest("hex").slice(0, 12)}`;
}

/**
 * The statement that forgets a down link's sticky users (the dynamic entries of its sticky list), so that
 * users moved by the failover are recorded afresh by the link they really leave by (render.ts, egress
 * chain) and none stays in two lists. A link with several targets is down when no route through it is
 * enabled any more: the probe that disables the last of them forgets.
 */
export function forgetStickyUsers(owner: string, l: PlanLink, list: string): string {
  const remove = `/ip firewall address-list remove [find list="${list}" dynamic=yes]`;
  if (l.check.targets.length === 1) return remove;
  const literal = l.name.replace(/\./g, "[.]");
  const live = `[/ip route find comment~"^${ownershipPrefix(owner)}route:[^:]+:${literal}:" disabled=no]`;
  return `:if ([:len ${live}]=0) do={${remove}}`;
}

/**
 * RouterOS 7 test-script: count the round, then make the routes match the state. With `stickyList`, the
 * round that takes the target down also forgets the link's sticky users (forgetStickyUsers).
 */
export function testScript(owner: string, l: PlanLink, j: number, stickyList?: string): string {
  const g = counterName(owner, l.name, j);
  const v = `$${g}`;
  const routes = `[find comment~"${routesPattern(owner, l.name, j)}"`;
  return [
    `:global ${g}`,
    `:if ([:typeof ${v}]!="num") do={:set ${g} 0}`,
    ...(stickyList ? [`:local was ${v}`] : []),
    `:local ok ([/tool netwatch get [find comment="${ownershipPrefix(owner)}${watchKey(l.name, j)}"] status]="up")`,
    `:if (${v}<${DOWN}) do={:if ($ok) do={:set ${g} 0} else={:set ${g} (${v}+1)}} else={:if ($ok) do={:set ${g} (${v}+1)} else={:set ${g} ${DOWN}}}`,
    `:if (${v}=${l.check.failAfter}) do={:set ${g} ${DOWN}}`,
    `:if (${v}=${DOWN + l.check.recoverAfter}) do={:set ${g} 0}`,
    `:if (${v}>=${DOWN}) do={/ip route disable ${routes} disabled=no]} else={/ip route enable ${routes} disabled=yes]}`,
    ...(stickyList
      ? [`:if ($was<${DOWN}) do={:if (${v}>=${DOWN}) do={${forgetStickyUsers(owner, l, stickyList)}}}`]
      : []),
  ].join("\n");
}

/*
 * RouterOS 7 with a target shared by several links: each link's probe of it leaves from the link's own
 * address (netwatch `src-address`, in every crawl from 7.11.3, absent from 7.10.2: MIN_ROUTEROS_7), and a
 * routing rule sends that source and target to the link's probe table, whose host route goes through the
 * link's gateway (a table of its own, so that LAN connections to the target keep their usual tables and
 * fallbacks).
 */

/** Targets that more than one link probes. */
export function sharedTargets(plan: Plan): Set<string> {
  const all = plan.links.flatMap((l) => l.check.targets);
  return new Set(all.filter((t, i) => all.indexOf(t) !== i));
}

/** The probe table of a link that probes a shared target (RouterOS 7). */
export const probeTable = (l: PlanLink): string => `${l.mark}-probe`;

/**
 * Stand-in for an interface's address, which the device decides (DHCP, PPPoE): the backend writes the
 * address the interface has at apply, and shows it as this in rule lines (so an address change is drift).
 */
export const addressOf = (iface: string): string => `<address of ${iface}>`;
export const ADDRESS_OF = /^<address of ([^>]+)>(\/32)?$/;

/** The owned netwatch entries: one per link and check target. */
export function netwatchEntries(
  plan: Plan,
  version: RosVersion,
): Array<{ key: string; attrs: Record<string, string> }> {
  const shared = sharedTargets(plan);
  return plan.links.flatMap((l) => {
    const sticky = stickyListOf(plan, l);
    return l.check.targets.map((t, j) => {
      const timing = {
        interval: formatRosDuration(l.check.intervalMs),
        timeout: formatRosDuration(l.check.timeoutMs),
      };
      const routes = `[find comment~"${routesPattern(plan.owner, l.name, j)}"]`;
      const attrs: Record<string, string> =
        version === 7
          ? {
              host: t,
              type: "icmp",
              ...timing,
              "packet-count": "1",
              "thr-avg": timing.timeout,
              "thr-max": timing.timeout,
              ...(shared.has(t) ? { "src-address": addressOf(l.interface) } : {}),
              "test-script": testScript(plan.owner, l, j, sticky),
            }
          : {
              host: t,
              ...timing,
              "up-script": `/ip route enable ${routes}`,
              "down-script": [
                `/ip route disable ${routes}`,
                ...(sticky ? [forgetStickyUsers(plan.owner, l, sticky)] : []),
              ].join("\n"),
            };
      return { key: watchKey(l.name, j), attrs };
    });
  });
}

/** The sticky address list of `l`, when it has one (with sticky, every link has one, backup tiers too). */
export function stickyListOf(plan: Plan, l: PlanLink): string | undefined {
  return plan.sticky && plan.strategy !== "ecmp" ? `${plan.prefix}-sticky-${l.name}` : undefined;
}

/**
 * What a RouterOS version cannot honour of the links' checks, in words for `check()` and the README; empty
 * when everything is honoured.
 */
export function approximations(plan: Plan, version: RosVersion): string[] {
  if (version !== 6) return [];
  return plan.links
    .filter((l) => l.check.failAfter !== 1 || l.check.recoverAfter !== 1)
    .map(
      (l) =>
        `links[${l.index - 1}].check: RouterOS 6 cannot count rounds (its netwatch has no per-test script), ` +
        `so failAfter ${l.check.failAfter} and recoverAfter ${l.check.recoverAfter} act as 1: a target's ` +
        `routes are disabled after one unanswered probe and enabled after one answered probe ` +
        `(interval and timeout are honoured)`,
    );
}

/** Does `desired` hold an interface-address stand-in (a shared target on RouterOS 7)? */
export function hasAddressStandIns(desired: DesiredState): boolean {
  return Object.values(desired).some((entries) =>
    entries.some((e) => Object.values(e.attrs).some((v) => ADDRESS_OF.test(v))),
  );
}

/** The IPv4 address of each interface (the first one it has), from the device's `/ip/address`. */
export function interfaceAddresses(actual: Record<string, PrintedEntry[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of actual["/ip/address"] ?? []) {
    if (a.disabled === "true" || a.invalid === "true" || !a.address || !a.interface) continue;
    if (!out.has(a.interface)) out.set(a.interface, a.address.split("/")[0]);
  }
  return out;
}

/** `desired` with each stand-in replaced by the address its interface has now. */
export function fillAddresses(desired: DesiredState, addresses: Map<string, string>): DesiredState {
  const fill = (v: string): string => {
    const m = ADDRESS_OF.exec(v);
    if (!m) return v;
    const a = addresses.get(m[1]);
    if (!a)
      throw new Error(
        `interface ${m[1]} has no IPv4 address: a check target probed by several links is probed from each ` +
          `link's own address (netwatch src-address)`,
      );
    return `${a}${m[2] ?? ""}`;
  };
  return Object.fromEntries(
    Object.entries(desired).map(([menu, entries]) => [
      menu,
      entries.map((e) => ({
        ...e,
        attrs: Object.fromEntries(Object.entries(e.attrs).map(([k, v]) => [k, fill(v)])),
      })),
    ]),
  );
}

/**
 * Printed entries with an interface's current address in `src-address` shown as its stand-in, as the spec
 * renders it: the rule lines then match while the address is current, and show drift once it changes.
 */
export function nameAddresses(
  actual: Record<string, PrintedEntry[]>,
  addresses: Map<string, string>,
): Record<string, PrintedEntry[]> {
  const byAddress = new Map([...addresses].map(([iface, a]) => [a, iface]));
  const name = (v: string): string => {
    const [ip, len] = v.split("/");
    const iface = byAddress.get(ip);
    return iface && (len === undefined || len === "32") ? `${addressOf(iface)}${len ? "/32" : ""}` : v;
  };
  return Object.fromEntries(
    Object.entries(actual).map(([menu, entries]) => [
      menu,
      menu === "/tool/netwatch" || menu === "/routing/rule"
        ? entries.map((e) => (e["src-address"] ? { ...e, "src-address": name(e["src-address"]) } : e))
        : entries,
    ]),
  );
}
