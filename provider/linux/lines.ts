/**
 * Canonical text of everything the resource owns on a Linux gateway: one line per nft object, element and
 * rule, ip rule, route, sysctl and the prober. The same text comes from the rendered plan and from reading
 * the device, so a converged gateway reads back exactly `desiredLines()` and any difference is a real one.
 *
 * nft objects are compared in nft's own printed form (`nft list table`): nft normalises what it loads, and
 * the renderer writes rules in that printed form, so hand edits show as changed rule text.
 */
import type { Rules } from "../common/rules";
import { keyedRules } from "../common/rules";
import type { DesiredRule, LinuxDesired, NftObject, NftTable } from "./render";
import { compareElements, OWNED_TABLES, PRIO_FIRST, PRIO_LAST, PRIO_MAIN } from "./render";
import { LIB_DIR } from "./ids";
import { proberFilesHash } from "./script";

/** `nft list table inet X` text → objects (elements of dynamic maps are runtime state and are dropped). */
export function parseNftTable(text: string): NftTable | undefined {
  const lines = text.split("\n");
  const head = /^table inet (\S+) \{$/.exec(lines[0]?.trim() ?? "");
  if (!head) return undefined;
  const table: NftTable = { name: head[1], objects: [] };
  let current: NftObject | undefined;
  let elementText: string | undefined;
  for (const raw of lines.slice(1)) {
    const line = raw.trim();
    if (elementText !== undefined) {
      elementText += " " + line;
      if (balanced(elementText)) {
        (current as NftObject).elements.push(...splitElements(elementText));
        elementText = undefined;
      }
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const obj = /^(set|map|chain) (\S+) \{$/.exec(line);
    if (obj && !current) {
      current = { kind: obj[1] as NftObject["kind"], name: obj[2], spec: [], elements: [], rules: [] };
      continue;
    }
    if (line === "}") {
      if (current) {
        if (current.spec.some((s) => /^flags .*\bdynamic\b/.test(s))) current.elements = [];
        table.objects.push(current);
        current = undefined;
      }
      continue;
    }
    if (!current) continue;
    if (current.kind !== "chain" && line.startsWith("elements = {")) {
      elementText = line;
      if (balanced(elementText)) {
        current.elements.push(...splitElements(elementText));
        elementText = undefined;
      }
    } else if (current.kind !== "chain" || (/^type \S+ hook /.test(line) && current.rules.length === 0))
      current.spec.push(line);
    else current.rules.push(line);
  }
  return table;
}

function balanced(text: string): boolean {
  let depth = 0;
  for (const c of text) depth += c === "{" ? 1 : c === "}" ? -1 : 0;
  return depth === 0;
}

function splitElements(text: string): string[] {
  const body = text.slice(text.indexOf("{") + 1, text.lastIndexOf("}"));
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const c of body) {
    if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    depth += c === "{" ? 1 : c === "}" ? -1 : 0;
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out.map((e) => e.replace(/\s+/g, " "));
}

/**
 * Anonymous sets and maps in a rule are unordered, and nft prints their elements in an order of its own
 * (with 16 uplinks `oifname map { ... }` came back reordered): sort them, on both sides of a comparison.
 */
export function canonicalRule(rule: string): string {
  return rule.replace(
    /\{ ([^{}"]*(?:"[^"]*"[^{}"]*)*) \}/g,
    (_, body: string) => `{ ${splitElements(`{${body}}`).sort(compareElements).join(", ")} }`,
  );
}

/** Lines of one table. Objects sorted by kind and name (nft's listing order is not part of the config). */
export function nftLines(table: NftTable): string[] {
  const path = `nft inet ${table.name}`;
  const order = { set: 0, map: 1, chain: 2 };
  const objects = [...table.objects].sort(
    (a, b) => order[a.kind] - order[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const out = [`nft table inet ${table.name}`];
  for (const o of objects) {
    out.push(`${path} ${o.kind} ${o.name}${o.spec.length ? ` { ${o.spec.join("; ")} }` : ""}`);
    for (const e of [...o.elements].sort(compareElements))
      out.push(`${path} ${o.kind} ${o.name} element ${e}`);
    for (const r of o.rules) out.push(`${path} ${o.kind} ${o.name}: ${canonicalRule(r)}`);
  }
  return out;
}

export interface IpRuleJson {
  priority: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  table?: string;
  [key: string]: unknown;
}

export interface RouteJson {
  dst: string;
  [key: string]: unknown;
}

export function isOwnedRule(r: IpRuleJson): boolean {
  if (r.priority < PRIO_FIRST || r.priority > PRIO_LAST) return false;
  if (r.priority === PRIO_MAIN && r.table === "main") return true;
  return OWNED_TABLES.includes(Number(r.table));
}

/** Selectors printed as "key value", in this order. */
const RULE_FLAGS = ["iif", "oif", "tos", "uidrange", "ipproto", "sport", "dport", "protocol"];
/** Keys of `ip -j rule` the line shows in its own words; any other key is shown as JSON (never dropped). */
const RULE_SHOWN = new Set([
  ...["priority", "src", "srclen", "dst", "dstlen", "table", "fwmark", "fwmask"],
  ...RULE_FLAGS,
  ...["suppress_prefixlen", "suppress_ifgroup", "flags"],
]);

/** `ip -j rule` entry → "pref P ..." as `ip rule add`/`del` take it. */
export function ruleArgs(r: IpRuleJson): string {
  const parts = [`pref ${r.priority}`];
  if (r.src && r.src !== "all") parts.push(`from ${r.src}${r.srclen !== undefined ? `/${r.srclen}` : ""}`);
  if (r.dst && r.dst !== "all") parts.push(`to ${r.dst}${r.dstlen !== undefined ? `/${r.dstlen}` : ""}`);
  if (r.fwmark !== undefined)
    parts.push(
      `fwmark ${String(r.fwmark)}${r.fwmask && r.fwmask !== "0xffffffff" ? `/${String(r.fwmask)}` : ""}`,
    );
  for (const key of RULE_FLAGS) if (r[key] !== undefined) parts.push(`${key} ${String(r[key])}`);
  parts.push(`lookup ${r.table ?? "main"}`);
  if (r.suppress_prefixlen !== undefined) parts.push(`suppress_prefixlength ${String(r.suppress_prefixlen)}`);
  if (r.suppress_ifgroup !== undefined) parts.push(`suppress_ifgroup ${String(r.suppress_ifgroup)}`);
  for (const [k, v] of Object.entries(r)) if (!RULE_SHOWN.has(k)) parts.push(`${k} ${JSON.stringify(v)}`);
  return parts.join(" ");
}

/** Concrete rule arguments for the desired rules, source rules expanded with the interfaces' addresses. */
export function concreteRules(rules: DesiredRule[], addrs: Map<string, string[]>): string[] {
  return rules.flatMap((r) =>
    r.kind === "fixed"
      ? [`pref ${r.priority} ${r.args}`]
      : (addrs.get(r.iface) ?? []).map((a) => `pref ${r.priority} from ${a} lookup ${r.table}`),
  );
}

const sourceLine = (r: { priority: number; iface: string; table: number }) =>
  `ip rule pref ${r.priority} from <addresses of ${r.iface}> lookup ${r.table}`;

export function desiredRuleLines(rules: DesiredRule[]): string[] {
  return sortRules(
    rules.map((r) => (r.kind === "fixed" ? `ip rule pref ${r.priority} ${r.args}` : sourceLine(r))),
  );
}

/**
 * Owned rules read back. The rules of a source priority are shown as the symbolic desired line when they
 * are exactly one rule per current address of that interface, so DHCP-assigned addresses do not show as
 * differences; anything else shows literally.
 */
export function actualRuleLines(
  rules: DesiredRule[],
  owned: IpRuleJson[],
  addrs: Map<string, string[]>,
): string[] {
  const lines: string[] = [];
  const bySource = new Map(
    rules
      .filter((r) => r.kind === "source")
      .map((r) => [r.priority, r as Extract<DesiredRule, { kind: "source" }>]),
  );
  const handled = new Set<number>();
  for (const [prio, want] of bySource) {
    const have = owned
      .filter((r) => r.priority === prio)
      .map(ruleArgs)
      .sort();
    const expect = concreteRules([want], addrs).sort();
    if (JSON.stringify(have) === JSON.stringify(expect)) {
      lines.push(sourceLine(want));
      handled.add(prio);
    }
  }
  for (const r of owned) if (!handled.has(r.priority)) lines.push(`ip rule ${ruleArgs(r)}`);
  return sortRules(lines);
}

function sortRules(lines: string[]): string[] {
  const prio = (l: string) => Number(/pref (\d+)/.exec(l)?.[1] ?? 0);
  return [...lines].sort((a, b) => prio(a) - prio(b) || (a < b ? -1 : a > b ? 1 : 0));
}

const ROUTE_SHOWN = new Set([
  "dst",
  "type",
  "gateway",
  "dev",
  "protocol",
  "scope",
  "prefsrc",
  "metric",
  "flags",
]);

/** `ip -j route` entry of table t → "DST via GW dev IF ... table T" as `ip route replace`/`del` take it. */
export function routeArgs(r: RouteJson, table: number): string {
  const parts: string[] = [];
  if (r.type && r.type !== "unicast") parts.push(String(r.type));
  parts.push(r.dst);
  if (r.gateway) parts.push(`via ${String(r.gateway)}`);
  if (r.dev) parts.push(`dev ${String(r.dev)}`);
  if (r.protocol) parts.push(`proto ${String(r.protocol)}`);
  if (r.scope && r.scope !== "global") parts.push(`scope ${String(r.scope)}`);
  if (r.prefsrc) parts.push(`src ${String(r.prefsrc)}`);
  if (r.metric !== undefined) parts.push(`metric ${String(r.metric)}`);
  if (Array.isArray(r.flags) && r.flags.includes("onlink")) parts.push("onlink");
  for (const [k, v] of Object.entries(r)) if (!ROUTE_SHOWN.has(k)) parts.push(`${k} ${JSON.stringify(v)}`);
  parts.push(`table ${table}`);
  return parts.join(" ");
}

export function sortRoutes(routes: string[]): string[] {
  const key = (r: string) => [
    Number(/ table (\d+)$/.exec(r)?.[1] ?? 0),
    Number(/ metric (\d+)/.exec(r)?.[1] ?? 0),
  ];
  return [...routes].sort((a, b) => {
    const [ta, ma] = key(a);
    const [tb, mb] = key(b);
    return ta - tb || ma - mb || (a < b ? -1 : a > b ? 1 : 0);
  });
}

export const sysctlLine = (path: string, value: string) => `sysctl ${path.replace(/\//g, ".")} = ${value}`;

export const proberLine = (owner: string, hash: string, running: boolean) =>
  `prober ${LIB_DIR}/${owner}/prober.sh ${hash} ${running ? "running" : "stopped"}`;

export function desiredLines(d: LinuxDesired): string[] {
  return [
    ...nftLines(d.nft),
    ...desiredRuleLines(d.rules),
    ...sortRoutes(d.routes).map((r) => `ip route ${r}`),
    ...d.sysctls.map((s) => sysctlLine(s.path, s.value)),
    proberLine(d.owner, proberFilesHash(d), true),
  ];
}

/**
 * Lines keyed by the object each describes: a chain's rules by their position in the chain, set and map
 * elements by element (map: by its key), ip rules by priority, routes by table, destination and metric,
 * sysctls by name. A changed object then shows as one changed entry of the `rules` output.
 */
export function linuxRules(lines: string[]): Rules {
  const position = new Map<string, number>();
  return keyedRules(lines, (line) => {
    let m = /^nft \S+ \S+ chain (\S+): /.exec(line);
    if (m) {
      const n = (position.get(m[1]) ?? 0) + 1;
      position.set(m[1], n);
      return `nft chain ${m[1]} rule ${String(n).padStart(2, "0")}`;
    }
    if ((m = /^nft \S+ \S+ (set|map) (\S+) element (.+?)(?: : .*)?$/.exec(line)))
      return `nft ${m[1]} ${m[2]} element ${m[3]}`;
    if ((m = /^nft \S+ \S+ (set|map|chain) (\S+)/.exec(line))) return `nft ${m[1]} ${m[2]}`;
    if (line.startsWith("nft table ")) return "nft table";
    if ((m = /^ip rule pref (\d+)/.exec(line))) return `ip rule ${m[1]}`;
    if ((m = /^ip route (\S+) .*?(?:metric (\d+) )?.*table (\d+)$/.exec(line)))
      return `ip route table ${m[3]} ${m[1]} metric ${m[2] ?? 0}`;
    if ((m = /^sysctl (\S+) = /.exec(line))) return `sysctl ${m[1]}`;
    if (line.startsWith("prober ")) return "prober";
    return line;
  });
}
