/**
 * Every RouterOS menu this backend writes, described once as data: which properties it manages and how
 * their printed values compare, what print shows for a property left unset, which fields are read-only,
 * per-version property names, whether order matters, and when the menu is written relative to the others.
 * One generic reconciler (reconcile.ts) serves all of them; adding a menu is adding an entry here.
 */
import { normaliseDuration } from "./values";

export type RosVersion = 6 | 7;

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
}

const common = { comment: "text", disabled: "bool" } as const;

export const MENUS: MenuSpec[] = [
  {
    path: "/interface/list",
    scriptPath: "/interface list",
    versions: [6, 7],
    phase: 0,
    props: { ...common, name: "text" },
    unsetLooksLike: { disabled: "false" },
  },
  {
    path: "/interface/list/member",
    scriptPath: "/interface list member",
    versions: [6, 7],
    phase: 1,
    props: { ...common, list: "text", interface: "text" },
    unsetLooksLike: { disabled: "false" },
  },
  {
    path: "/ip/firewall/address-list",
    scriptPath: "/ip firewall address-list",
    versions: [6, 7],
    phase: 0,
    props: { ...common, list: "text", address: "prefix", timeout: "duration" },
    unsetLooksLike: { disabled: "false" },
  },
  {
    path: "/routing/table",
    scriptPath: "/routing table",
    versions: [7],
    phase: 0,
    props: { ...common, name: "text", fib: "flag" },
    unsetLooksLike: { disabled: "false", fib: "false" },
  },
  {
    path: "/ip/route",
    scriptPath: "/ip route",
    versions: [6, 7],
    phase: 1,
    props: {
      ...common,
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
      "connection-state": "text",
      "connection-mark": "text",
      "src-address-list": "text",
      "dst-address-list": "text",
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
