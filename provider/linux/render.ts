/**
 * Plan → what a Linux gateway must hold: one nftables table, iproute2 rules and routes, sysctls, and the
 * prober (prober.ts). Pure: the device is never consulted, except that source-address rules name "the
 * addresses of interface X" and are expanded by apply.ts with the addresses it reads.
 *
 * How a connection is bound to a link (nftables, table inet lbgw_<owner>):
 *   prerouting  every packet of a bound connection gets its link's mark back from the ct mark; a new
 *               connection arriving on an uplink is bound to it (inbound symmetry); a new LAN connection
 *               that is not direct (LAN, bypass, gateways) nor router-local is bound by pin, sticky entry,
 *               or the slot map (`numgen inc` for nth, `jhash` for pcc).
 *   output      the router's own new connections are bound to the uplink their route leaves by (the
 *               routerTraffic link, or an uplink whose address the socket chose); replies restore the mark.
 *   pick, bind  a link that is down hands its new connections to its fallback (map `live`, rewritten by
 *               the prober); pick also records the user in `sticky`.
 *   egress      a new connection is re-bound to the uplink it actually leaves by, so a connection that left
 *               by a fallback route keeps that uplink when routes change or its own link recovers; every
 *               forwarded packet of a user's bound LAN connections restarts its sticky entry's timeout.
 *   srcnat      masquerade or snat per uplink.
 * Marks select routes (iproute2): fwmark rule → the link's table → its default route, then its fallbacks.
 *
 * Numbers (fixed, so every owned object is recognisable on the device; one resource per gateway):
 *   link mark   0x100 + index (0x101..0x110)        routing table  100 + index (101..116)
 *   ip rules    10000 main without default routes (connected and static routes win)
 *               10100 + index  fwmark → link table
 *               10200 + index  from the link's own addresses → link table
 *               10300          router's own traffic (iif lo) → routerTraffic's table
 */
import type { Plan } from "../plan/plan";
import { linkByName } from "../plan/plan";
import { prefixContains } from "../spec/values";
import {
  PRIO_MAIN,
  PRIO_FWMARK,
  PRIO_SOURCE,
  PRIO_ROUTER,
  JHASH_SEED,
  linkMark,
  linkTable,
  hexMark,
  tableName,
} from "./ids";
import { renderProber, type ProberFiles } from "./prober";

export {
  MARK_BASE,
  TABLE_BASE,
  PRIO_MAIN,
  PRIO_FWMARK,
  PRIO_SOURCE,
  PRIO_ROUTER,
  PRIO_FIRST,
  PRIO_LAST,
  OWNED_TABLES,
  JHASH_SEED,
  linkMark,
  linkTable,
  hexMark,
  tableName,
} from "./ids";

/** One set, map or chain of the table, in `nft list table` form (one string per printed line). */
export interface NftObject {
  kind: "set" | "map" | "chain";
  name: string;
  /** Declaration lines: "type ...", "flags ...", or a base chain's "type ... hook ...; policy accept;". */
  spec: string[];
  /** Set/map elements, one each; empty for chains and for dynamic maps (runtime content). */
  elements: string[];
  rules: string[];
  /** Why it exists (file comment only: nft does not keep it). */
  note?: string;
}

export interface NftTable {
  name: string;
  objects: NftObject[];
}

/** An ip rule: `pref P ...` arguments as `ip rule add` takes them and as apply.ts prints rules read back. */
export type DesiredRule =
  | { kind: "fixed"; priority: number; args: string }
  | { kind: "source"; priority: number; iface: string; table: number };

export interface Sysctl {
  /** Path under /proc/sys. */
  path: string;
  value: string;
}

export interface LinuxDesired {
  owner: string;
  nft: NftTable;
  rules: DesiredRule[];
  /** `ip route` arguments including "table N". */
  routes: string[];
  sysctls: Sysctl[];
  prober: ProberFiles;
  /** Prober-managed maps: their elements on the device may differ from `nft` while a link is down. */
  proberMaps: string[];
  /** One line about the plan, for the header of the configuration script (script.ts). */
  about: string;
}

export function renderLinux(plan: Plan): LinuxDesired {
  if (plan.strategy === "ecmp")
    throw new Error(
      'strategy "ecmp" is not available on target.linux: a multipath route cannot see failures beyond the ' +
        'first hop, and its failover would have to rewrite routes. Use strategy "pcc" with hash ' +
        '"both-addresses" (the same per source/destination spread, weighted, with prober failover).',
    );
  return {
    owner: plan.owner,
    nft: renderNft(plan),
    rules: renderRules(plan),
    routes: renderRoutes(plan),
    sysctls: renderSysctls(plan),
    prober: renderProber(plan),
    proberMaps: ["slots", "live"],
    about: `strategy ${plan.strategy}, ${plan.links.length} uplinks`,
  };
}

const q = (s: string) => `"${s}"`;
const ifnames = (names: string[]) =>
  names.length === 1 ? q(names[0]) : `{ ${[...names].sort().map(q).join(", ")} }`;
const comment = (text: string) => ` comment ${q(text)}`;

/** Prefixes as nft prints interval elements: /32 as a bare address, nested prefixes folded into the wider. */
export function intervalElements(prefixes: string[]): string[] {
  const unique = [...new Set(prefixes)];
  const kept = unique.filter(
    (p) => !unique.some((o) => o !== p && widthOf(o) < widthOf(p) && prefixContains(o, p.split("/")[0])),
  );
  return kept.map(elementForm).sort(compareElements);
}

const widthOf = (p: string) => Number(p.split("/")[1] ?? 32);

function renderNft(plan: Plan): NftTable {
  const link = (name: string) => linkByName(plan, name);
  const marks = plan.links.map((l) => hexMark(linkMark(l)));
  const N = plan.slots.length;
  const uplinkMap = `{ ${[...plan.links]
    .sort((a, b) => (a.interface < b.interface ? -1 : 1))
    .map((l) => `${q(l.interface)} : ${hexMark(linkMark(l))}`)
    .join(", ")} }`;
  const masqueraded = plan.links.filter((l) => l.nat.kind === "masquerade");
  const objects: NftObject[] = [];

  objects.push({
    kind: "set",
    name: "direct",
    note: "destinations never balanced: lan.networks, bypass, each links[].gateway",
    spec: ["type ipv4_addr", "flags interval"],
    elements: intervalElements(plan.direct),
    rules: [],
  });
  objects.push({
    kind: "map",
    name: "slots",
    note: `slot → link mark: links[].weight of tier ${plan.links.find((l) => l.name === plan.primary[0])?.tier} as ${plan.slots.join(",")} (rewritten by the prober while a link is down)`,
    spec: [`typeof numgen inc mod ${N} : meta mark`],
    elements: plan.slots.map((s, i) => `${i} : ${hexMark(linkMark(link(s)))}`),
    rules: [],
  });
  objects.push({
    kind: "map",
    name: "live",
    note: "link → link its new connections use: itself, or while it is down its first live fallback (prober)",
    spec: ["type mark : mark"],
    elements: plan.links.map((l) => `${hexMark(linkMark(l))} : ${hexMark(linkMark(l))}`),
    rules: [],
  });
  if (plan.sticky)
    objects.push({
      kind: "map",
      name: "sticky",
      note: "sticky: each user's link, forgotten after the timeout with no packet from the user (egress refreshes it)",
      spec: [
        "type ipv4_addr : mark",
        "size 65535",
        "flags dynamic,timeout",
        `timeout ${nftDuration(plan.sticky.timeoutMs)}`,
      ],
      elements: [],
      rules: [],
    });

  // Bound connections stop here: a retransmitted SYN is still "new" and must not draw another slot.
  const restore = `ct mark { ${marks.join(", ")} } meta mark set ct mark return`;
  const pre: string[] = [
    `${restore}${comment("links: every packet of a bound connection takes its link's route")}`,
    "ct state != new return",
  ];
  // One rule per concern whatever the number of uplinks (maps, not a rule per link): the rules a packet
  // meets do not grow with the uplinks.
  if (plan.inboundSymmetry)
    pre.push(
      `ct mark set iifname map ${uplinkMap} meta mark set ct mark return${comment("inboundSymmetry: a connection that arrived on an uplink keeps it for its replies")}`,
    );
  pre.push(
    `iifname != ${ifnames(plan.lan.interfaces)} return${comment("lan.interfaces: only LAN connections are balanced")}`,
    `ip daddr @direct return${comment("direct: LAN, bypass and gateway destinations use the main table")}`,
    `fib daddr type local return${comment("router-local destinations")}`,
  );
  const pinRules = sortedPins(plan).map(
    (p) =>
      `ip daddr ${elementForm(p.destination)} ct mark set ${hexMark(linkMark(link(p.link)))} goto bind${comment(`pins: ${p.destination} via ${p.link}`)}`,
  );
  pre.push(...pinRules);
  if (plan.sticky)
    pre.push(`ct mark set ip saddr map @sticky goto pick${comment("sticky: the user's link")}`);
  const selector =
    plan.strategy === "pcc"
      ? `jhash ${pccKey(plan.hash)} mod ${N} seed ${JHASH_SEED}`
      : `numgen inc mod ${N}`;
  pre.push(
    `ct mark set ${selector} map @slots goto pick${comment(plan.strategy === "pcc" ? `strategy pcc (hash ${plan.hash}): slot by hash` : "strategy nth: next slot")}`,
  );
  objects.push({
    kind: "chain",
    name: "prerouting",
    spec: ["type filter hook prerouting priority mangle; policy accept;"],
    elements: [],
    rules: pre,
  });

  const liveRule = `ct mark set ct mark map @live${comment("a link that is down hands new connections to its fallback")}`;
  objects.push({
    kind: "chain",
    name: "pick",
    note: "a balanced new connection: live link, sticky record, route",
    spec: [],
    elements: [],
    rules: [
      liveRule,
      ...(plan.sticky
        ? [`update @sticky { ip saddr : ct mark }${comment("sticky: remember the user's link")}`]
        : []),
      "meta mark set ct mark",
    ],
  });
  objects.push({
    kind: "chain",
    name: "bind",
    note: "a pinned or router-originated new connection: live link, route",
    spec: [],
    elements: [],
    rules: [liveRule, "meta mark set ct mark"],
  });

  const rt = link(plan.routerTraffic);
  const out: string[] = [
    `${restore}${comment("inboundSymmetry: replies of the router keep their link")}`,
    "ct state != new return",
    `meta mark != 0x00000000 return${comment("sockets that chose a mark (the prober's probes) keep it")}`,
    `ip daddr @direct return${comment("direct destinations")}`,
    `fib daddr type local return${comment("router-local destinations")}`,
  ];
  out.push(...pinRules);
  out.push(
    `ct mark set oifname map ${uplinkMap} goto bind${comment(`routerTraffic: ${rt.name}, or the uplink the socket's address belongs to`)}`,
  );
  objects.push({
    kind: "chain",
    name: "output",
    spec: ["type route hook output priority mangle; policy accept;"],
    elements: [],
    rules: out,
  });
  objects.push({
    kind: "chain",
    name: "egress",
    spec: ["type filter hook postrouting priority mangle; policy accept;"],
    elements: [],
    rules: [
      `ct state new ct mark set oifname map ${uplinkMap}${comment("links: a connection stays on the uplink it leaves by")}`,
      // Sticky is an idle timeout: `update` of an existing element restarts its timeout and keeps its link;
      // the membership test first means a packet never creates an entry (only pick does). Here, not in
      // prerouting, so the prerouting rules keep their places and only forwarded packets count.
      ...(plan.sticky
        ? [
            `iifname ${ifnames(plan.lan.interfaces)} ct mark { ${marks.join(", ")} } ip saddr @sticky update @sticky { ip saddr : ct mark }${comment("sticky: each packet of a remembered user restarts its timeout")}`,
          ]
        : []),
    ],
  });
  objects.push({
    kind: "chain",
    name: "srcnat",
    spec: ["type nat hook postrouting priority srcnat; policy accept;"],
    elements: [],
    rules: [
      ...(masqueraded.length
        ? [
            `oifname ${ifnames(masqueraded.map((l) => l.interface))} masquerade${comment("links[].nat: masquerade")}`,
          ]
        : []),
      ...plan.links.flatMap((l) =>
        l.nat.kind === "src-nat"
          ? [`oifname ${q(l.interface)} snat ip to ${l.nat.address}${comment(`links.${l.name}.nat: srcNat`)}`]
          : [],
      ),
    ],
  });
  return { name: tableName(plan.owner), objects };
}

function pccKey(hash: Plan["hash"]): string {
  switch (hash) {
    case "src-address":
      return "ip saddr";
    case "both-addresses":
      return "ip saddr . ip daddr";
    case "both-addresses-and-ports":
      return "ip saddr . ip daddr . th sport . th dport";
  }
}

/** Longest prefix first, so a narrower pin wins over a wider one (rules are evaluated in order). */
function sortedPins(plan: Plan): Plan["pins"] {
  return plan.pins
    .map((p, i) => ({ p, i }))
    .sort((a, b) => widthOf(b.p.destination) - widthOf(a.p.destination) || a.i - b.i)
    .map(({ p }) => p);
}

function elementForm(prefix: string): string {
  return prefix.endsWith("/32") ? prefix.slice(0, -3) : prefix;
}

/** nft's duration form as it prints it back: "1d", "2h30m", "45s". */
export function nftDuration(ms: number): string {
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join("") || "0s";
}

/** Elements in a fixed order for both the rendered and the read-back side (nft's own order is not ours). */
export function compareElements(a: string, b: string): number {
  const key = (e: string) =>
    e
      .split(/([0-9]+)/)
      .map((part) => (/^[0-9]+$/.test(part) ? part.padStart(12, "0") : part))
      .join("");
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function renderRules(plan: Plan): DesiredRule[] {
  const rules: DesiredRule[] = [
    { kind: "fixed", priority: PRIO_MAIN, args: "lookup main suppress_prefixlength 0" },
  ];
  for (const l of plan.links)
    rules.push({
      kind: "fixed",
      priority: PRIO_FWMARK + l.index,
      args: `fwmark ${"0x" + linkMark(l).toString(16)} lookup ${linkTable(l)}`,
    });
  for (const l of plan.links)
    rules.push({ kind: "source", priority: PRIO_SOURCE + l.index, iface: l.interface, table: linkTable(l) });
  rules.push({
    kind: "fixed",
    priority: PRIO_ROUTER,
    args: `iif lo lookup ${linkTable(linkByName(plan, plan.routerTraffic))}`,
  });
  return rules;
}

/** Per link table: its own default route (metric 1), then its fallbacks in order (metric 2, 3, ...). */
function renderRoutes(plan: Plan): string[] {
  return plan.links.flatMap((l) =>
    [l, ...l.fallback.map((n) => linkByName(plan, n))].map(
      (via, i) => `default via ${via.gateway} dev ${via.interface} metric ${i + 1} table ${linkTable(l)}`,
    ),
  );
}

/**
 * Per uplink:
 * - src_valid_mark 1: the reverse-path check of a packet arriving on an uplink uses its (restored) mark, so
 *   it is done against the link's table; without it the check uses the main table, which has no default
 *   route through every uplink (or none at all), and replies are dropped (measured in the lab).
 * - rp_filter 2 (loose): a link table may route through a fallback uplink (carrier loss), and a strict
 *   check would then drop the link's own replies.
 * - ignore_routes_with_linkdown 1: routes through an uplink that lost carrier are skipped, so its table
 *   falls back at once (the prober covers failures beyond the link).
 */
function renderSysctls(plan: Plan): Sysctl[] {
  return [
    { path: "net/ipv4/ip_forward", value: "1" },
    ...plan.links.flatMap((l) => [
      { path: `net/ipv4/conf/${l.interface}/rp_filter`, value: "2" },
      { path: `net/ipv4/conf/${l.interface}/src_valid_mark`, value: "1" },
      { path: `net/ipv4/conf/${l.interface}/ignore_routes_with_linkdown`, value: "1" },
    ]),
  ];
}

/** The table as an nft file that replaces the previous one in one transaction (add; delete; define). */
export function nftReplaceFile(table: NftTable, header: string[] = []): string {
  return [
    ...header.map((h) => `# ${h}`),
    `table inet ${table.name}`,
    `delete table inet ${table.name}`,
    printTable(table, true),
  ].join("\n");
}

/** nft text of the table (with `#` notes when `notes`). */
export function printTable(table: NftTable, notes = false): string {
  const out = [`table inet ${table.name} {`];
  table.objects.forEach((o, i) => {
    if (i > 0) out.push("");
    if (notes && o.note) out.push(`\t# ${o.note}`);
    out.push(`\t${o.kind} ${o.name} {`);
    for (const s of o.spec) out.push(`\t\t${s}`);
    if (o.elements.length) out.push(`\t\telements = { ${o.elements.join(",\n\t\t\t     ")} }`);
    for (const r of o.rules) out.push(`\t\t${r}`);
    out.push("\t}");
  });
  out.push("}");
  return out.join("\n") + "\n";
}
