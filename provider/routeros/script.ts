/**
 * Text forms of RouterOS entries: the rule lines shown by `pulumi preview` / `refresh` (one line per owned
 * entry, the same text whether it comes from the spec or from the device, so a diff is a real change),
 * and the complete script printed by `lbgw render`, which can be pasted into a RouterOS terminal.
 */
import { createHash } from "node:crypto";
import type { DesiredState } from "./render";
import type { MenuSpec, PropKind, RosVersion } from "./menus";
import { menusFor, wireName } from "./menus";
import type { PrintedEntry } from "./reconcile";
import { comparable, comparableDesired, ownedEntries } from "./reconcile";
import { formatRosDuration, rosDurationSeconds } from "./values";
import { splitClaim } from "../common/claim";

/** Comparison form → the form RouterOS accepts as input (and the one people read). */
export function inputForm(kind: PropKind, value: string): string {
  switch (kind) {
    case "bool":
    case "flag":
      return value === "true" ? "yes" : value === "false" ? "no" : value;
    case "duration": {
      const s = rosDurationSeconds(value);
      return s === undefined ? value : formatRosDuration(s * 1000);
    }
    default:
      return value;
  }
}

/** Desired attributes in input form, as the reconciler compares them (canonical names). */
function inputAttrs(m: MenuSpec, comparableAttrs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(comparableAttrs).map(([p, v]) => [p, inputForm(m.props[p], v)]));
}

function quote(value: string): string {
  if (/^[A-Za-z0-9_.:/,!@*+-]+$/.test(value)) return value;
  return `"${value
    .replace(/[\\"$?]/g, (c) => `\\${c}`)
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")}"`;
}

/** A long value as rule lines show it: its digest (any change of the value changes it). */
const digestOf = (value: string): string =>
  `sha256:${createHash("sha256").update(value).digest("hex").slice(0, 16)}`;

/**
 * One `add` line. Rule lines (`script: false`) show a `digest` property by its digest and the comment
 * without the claim; a script to paste (`script: true`) has both whole.
 */
function addLine(
  m: MenuSpec,
  version: RosVersion,
  attrs: Record<string, string>,
  opts: { script?: boolean } = {},
): string {
  // Properties in the menu table's order, the comment last: lines from the spec and from the device match.
  const order = Object.keys(m.props).filter((p) => p !== "comment" && p in attrs);
  const shown = (p: string) => (!opts.script && m.digest?.includes(p) ? digestOf(attrs[p]) : quote(attrs[p]));
  const words = order.flatMap((p) =>
    m.props[p] === "flag"
      ? attrs[p] === "yes"
        ? [wireName(m, version, p)]
        : []
      : [`${wireName(m, version, p)}=${shown(p)}`],
  );
  // The claim (common/claim.ts) is bookkeeping, not configuration: rule lines show the ownership key only
  // (a script to paste keeps it).
  const comment = attrs.comment === undefined || opts.script ? attrs.comment : splitClaim(attrs.comment).rest;
  if (comment !== undefined) words.push(`comment=${quote(comment)}`);
  return `add ${words.join(" ")}`;
}

/** One line per desired entry: "<menu> add k=v ... comment=lbgw:<owner>:<key>". */
export function desiredLines(desired: DesiredState, version: RosVersion): string[] {
  return menusFor(version).flatMap((m) =>
    inMenuOrder(
      m,
      (desired[m.path] ?? []).map(
        (d) => `${m.scriptPath} ${addLine(m, version, inputAttrs(m, comparableDesired(m, d.attrs)))}`,
      ),
    ),
  );
}

/** Order only means something in ordered menus; elsewhere lines are sorted so both sides compare equal. */
function inMenuOrder(m: MenuSpec, lines: string[]): string[] {
  return m.placement ? lines : [...lines].sort();
}

/** One line per owned entry found on the device, in the device's order within each menu. */
export function actualLines(
  owner: string,
  actual: Record<string, PrintedEntry[]>,
  version: RosVersion,
): string[] {
  return menusFor(version).flatMap((m) =>
    inMenuOrder(
      m,
      [...ownedEntries(owner, actual[m.path] ?? []).values()]
        .flat()
        .map((e) => `${m.scriptPath} ${addLine(m, version, inputAttrs(m, comparable(m, version, e)))}`),
    ),
  );
}

/** The previous owned entries as desired entries (what a rollback restores). */
export function desiredFromActual(
  owner: string,
  actual: Record<string, PrintedEntry[]>,
  version: RosVersion,
): DesiredState {
  const out: DesiredState = {};
  for (const m of menusFor(version)) {
    const owned = ownedEntries(owner, actual[m.path] ?? []);
    out[m.path] = [...owned].map(([key, entries]) => ({
      key,
      attrs: inputAttrs(m, comparable(m, version, entries[0])),
    }));
  }
  return out;
}

/** A complete RouterOS script: one header per menu, then its `add` lines (ordered menus in order). */
export function renderScript(desired: DesiredState, version: RosVersion, header: string[]): string {
  const out = header.map((h) => `# ${h}`);
  for (const m of menusFor(version)) {
    const entries = desired[m.path] ?? [];
    if (entries.length === 0) continue;
    out.push(m.scriptPath);
    for (const d of entries)
      out.push(addLine(m, version, inputAttrs(m, comparableDesired(m, d.attrs)), { script: true }));
  }
  return out.join("\n") + "\n";
}
