/**
 * Every RouterOS menu this backend writes, described once as data: which properties it manages and how
 * their printed values compare, what print shows for a property left unset, which fields are read-only,
 * per-version property names, whether order matters, and when the menu is written relative to the others.
 * One generic reconciler (reconcile.ts) serves all of them; adding a menu is adding an entry here.
 */
import { normaliseDuration } from "./values";

export type RosVersion = 6 | 7;

/**
 * The oldest RouterOS 7 this backend supports: the oldest release whose `/console/inspect` data the
 * conformance test checks every menu, property, value and command we write against (7.9; what 7.1-7.8 offer
 * is not known to us). Raise it when a feature needs a newer release; the test follows this constant.
 */
// Raised from 7.9 to 7.11.3 for the failover's netwatch `src-address` (a check target shared by several
// links is probed from each link's address): absent from the 7.10.2 crawl, present from 7.11.3 on (the
// crawls have no 7.11.0-7.11.2). Typed icmp probes and test-script (7.4+) are older.
export const MIN_ROUTEROS_7 = "7.11.3";

/**
 * How a managed property that an entry should not have is cleared, with a command the menu really has:
 * - "unset": `unset value-name=P` (the menu's `unset` offers P);
 * - { set: V }: `set P=V`, V being the input form of what print shows when P is unset (joins the entry's set);
 * - "enable": the menu's `enable` command (the only clear of `disabled`; mangle's unset does not offer it);
 * - "re-add": nothing clears it (address-list `timeout`): the entry is removed, added again, put back in place.
 * A managed property without an entry here is re-added: slower, but right on every router.
 */
export type ClearWith = "unset" | "enable" | "re-add" | { set: string };

/** How a property's value is compared: print and input formats differ for all but `text`. */
export type PropKind = "text" | "bool" | "flag" | "duration" | "prefix" | "int";

export interface MenuSpec {
  /** API path, e.g. "/ip/firewall/mangle". */
  path: string;
  /** Menu header as typed in a RouterOS terminal. */
  scriptPath: string;
  versions: RosVersion[];
  /** Ordered menus keep the owned entries as one block: at the top (mangle) or the bottom (nat). */
  placement?: "top" | "bottom";
  /**
   * Write order. Menus of one phase are written together (pipelined); a phase only refers to what earlier
   * phases wrote, and routes come before the marks that use them. Removal runs the phases backwards.
   */
  phase: number;
  /** Managed properties in canonical (v7) names. Properties not listed here are never compared. */
  props: Record<string, PropKind>;
  /** Printed value of a managed property that was not set. */
  unsetLooksLike: Record<string, string>;
  /** Per-version property names, canonical name → that version's name. */
  rename?: Partial<Record<RosVersion, Record<string, string>>>;
  /** Properties shown in rule lines by a digest of their value (long text; `lbgw render` prints it whole). */
  digest?: string[];
  /** How each managed property is cleared (canonical names); `clearByVersion` overrides it per version. */
  clear?: Record<string, ClearWith>;
  clearByVersion?: Partial<Record<RosVersion, Record<string, ClearWith>>>;
}

const common = { comment: "text", disabled: "bool" } as const;
/** `disabled` is cleared by `enable` in every menu that has it. */
const enable = { disabled: "enable" } as const;
/** Clear every listed property with `unset`. */
const unsets = (...props: string[]): Record<string, ClearWith> =>
  Object.fromEntries(props.map((p) => [p, "unset" as const]));

export const MENUS: MenuSpec[] = [
  {
    // The spec record (common/record.ts). Outside the routeros-inspect crawls, which cover the menus of the
    // data path only: name, source, policy and comment are the script menu's since RouterOS 3 (v6 and v7).
    path: "/system/script",
    scriptPath: "/system script",
    versions: [6, 7],
    phase: 0,
    props: { comment: "text", name: "text", source: "text", policy: "text" },
    unsetLooksLike: {},
    digest: ["source"],
  },
  {
    path: "/interface/list",
    scriptPath: "/interface list",
    versions: [6, 7],
    phase: 0,
    // An interface list has no `disabled` (nor enable/disable/unset) in any 7.9-7.24 crawl.
    props: { comment: "text", name: "text" },
    unsetLooksLike: {},
  },
  {
    path: "/interface/list/member",
    scriptPath: "/interface list member",
    versions: [6, 7],
    phase: 1,
    props: { ...common, list: "text", interface: "text" },
    unsetLooksLike: { disabled: "false" },
    clear: { ...enable },
  },
  {
    path: "/ip/firewall/address-list",
    scriptPath: "/ip firewall address-list",
    versions: [6, 7],
    phase: 0,
    props: { ...common, list: "text", address: "prefix", timeout: "duration" },
    unsetLooksLike: { disabled: "false" },
    // No `unset` in this menu, and `timeout` offers no "none" value: a timeout given by hand is re-added away.
    clear: { ...enable, timeout: "re-add" },
  },
  {
    path: "/routing/table",
    scriptPath: "/routing table",
    versions: [7],
    phase: 0,
    props: { ...common, name: "text", fib: "flag" },
    unsetLooksLike: { disabled: "false", fib: "false" },
    clear: { ...enable, ...unsets("fib") },
  },
  {
    path: "/ip/route",
    scriptPath: "/ip route",
    versions: [6, 7],
    phase: 1,
    // `disabled` is not managed: it is the failover state, which the owned netwatch probes set on the router
    // (netwatch.ts). A refresh during an outage is no drift, and an apply does not undo a failover.
    props: {
      comment: "text",
      "dst-address": "prefix",
      gateway: "text",
      distance: "int",
      scope: "int",
      "target-scope": "int",
      "check-gateway": "text",
      "routing-table": "text",
    },
    unsetLooksLike: {
      disabled: "false",
      distance: "1",
      scope: "30",
      "target-scope": "10",
      "routing-table": "main",
    },
    rename: { 6: { "routing-table": "routing-mark" } },
    // v7's unset does not offer routing-table; setting "main" is what an unset one prints. v6 (no inspect data):
    // routing-mark=main would name a table, so the route is re-added instead.
    clear: { ...enable, ...unsets("gateway", "distance", "scope", "target-scope", "check-gateway") },
    clearByVersion: { 7: { "routing-table": { set: "main" } } },
  },
  {
    path: "/ip/firewall/nat",
    scriptPath: "/ip firewall nat",
    versions: [6, 7],
    placement: "bottom",
    phase: 0,
    props: {
      ...common,
      chain: "text",
      action: "text",
      "out-interface": "text",
      "to-addresses": "text",
      "src-address-list": "text",
      "connection-mark": "text",
    },
    unsetLooksLike: { disabled: "false" },
    clear: { ...enable, ...unsets("out-interface", "to-addresses", "src-address-list", "connection-mark") },
  },
  {
    path: "/ip/firewall/mangle",
    scriptPath: "/ip firewall mangle",
    versions: [6, 7],
    placement: "top",
    phase: 2,
    props: {
      ...common,
      chain: "text",
      action: "text",
      "in-interface": "text",
      "in-interface-list": "text",
      "out-interface": "text",
      protocol: "text",
      "connection-state": "text",
      "connection-mark": "text",
      "src-address-list": "text",
      "dst-address-list": "text",
      "src-address-type": "text",
      "dst-address-type": "text",
      "dst-address": "prefix",
      nth: "text",
      "per-connection-classifier": "text",
      "new-connection-mark": "text",
      "new-routing-mark": "text",
      "address-list": "text",
      "address-list-timeout": "duration",
      "jump-target": "text",
      passthrough: "bool",
    },
    // passthrough's default differs by action and changed in 7.19, so every owned rule sets it.
    unsetLooksLike: { disabled: "false" },
    // Actions' own arguments (new-*-mark, jump-target, address-list*, passthrough) cannot be unset: re-added.
    clear: {
      ...enable,
      ...unsets(
        "in-interface",
        "in-interface-list",
        "out-interface",
        "protocol",
        "connection-state",
        "connection-mark",
        "src-address-list",
        "dst-address-list",
        "src-address-type",
        "dst-address-type",
        "dst-address",
        "nth",
        "per-connection-classifier",
      ),
    },
  },
  {
    // RouterOS 7, a check target shared by several links: each link's probe of it, from the link's address,
    // goes to the link's probe table (netwatch.ts). Ordered: owned rules go on top, before the operator's.
    path: "/routing/rule",
    scriptPath: "/routing rule",
    versions: [7],
    placement: "top",
    phase: 1,
    props: { ...common, "src-address": "prefix", "dst-address": "prefix", action: "text", table: "text" },
    unsetLooksLike: { disabled: "false" },
    clear: { ...enable, ...unsets("src-address", "dst-address") },
  },
  {
    // Failover probes (netwatch.ts). Written with the mangle rules, after the routes whose comments their
    // scripts name; removed with them, before the routes. Typed probes and test-script: 7.4+.
    path: "/tool/netwatch",
    scriptPath: "/tool netwatch",
    versions: [6, 7],
    phase: 2,
    props: {
      ...common,
      host: "text",
      type: "text",
      interval: "duration",
      timeout: "duration",
      "packet-count": "int",
      "thr-avg": "duration",
      "thr-max": "duration",
      "src-address": "text",
      "up-script": "text",
      "down-script": "text",
      "test-script": "text",
    },
    unsetLooksLike: { disabled: "false", "up-script": "", "down-script": "", "test-script": "" },
    clear: { ...enable, ...unsets("up-script", "down-script", "test-script", "src-address") },
  },
];

export function menu(path: string): MenuSpec {
  const m = MENUS.find((x) => x.path === path);
  if (!m) throw new Error(`no menu spec for ${path}`);
  return m;
}

export function menusFor(version: RosVersion): MenuSpec[] {
  return MENUS.filter((m) => m.versions.includes(version));
}

/** Canonical property name → the name this RouterOS version uses. */
export function wireName(m: MenuSpec, version: RosVersion, prop: string): string {
  return m.rename?.[version]?.[prop] ?? prop;
}

/** How this version clears a managed property (canonical name). */
export function clearWith(m: MenuSpec, version: RosVersion, prop: string): ClearWith {
  return m.clearByVersion?.[version]?.[prop] ?? m.clear?.[prop] ?? "re-add";
}

/** The version's property name → canonical name. */
export function canonicalName(m: MenuSpec, version: RosVersion, prop: string): string {
  const renames = m.rename?.[version] ?? {};
  return Object.keys(renames).find((k) => renames[k] === prop) ?? prop;
}

/** A value as print shows it, in the form used for comparison. */
export function normalise(kind: PropKind, value: string): string {
  switch (kind) {
    case "bool":
    case "flag":
      return value === "" || value === "yes" || value === "true" ? "true" : value === "no" ? "false" : value;
    case "duration":
      return normaliseDuration(value);
    case "prefix":
      return value.includes("/") ? value : `${value}/32`;
    case "int":
      return /^\d+$/.test(value) ? String(Number(value)) : value;
    default:
      return value;
  }
}
