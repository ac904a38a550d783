/**
 * The spec record: the resource's arguments, kept on the device beside the configuration they produce, so
 * that `pulumi import` can rebuild the resource from the device alone (plugin/import.ts): after a lost
 * state, or for a configuration pasted from `lbgw render`.
 *
 * It holds what the gateway does, never how it is reached: of the target only RouterOS's version (no address,
 * port, timeout or credentials: changing how the device is reached changes nothing on it), no owner (every
 * name carries it), no `adopt` (a create-time switch). It is one ASCII line, "# lbgw-spec-v1 {json}": a comment wherever it is kept (RouterOS: the
 * source of a script that grants only `read`; Linux: a line of the prober's config), never run nor read by
 * anything but import, and compared like any other owned text, so a hand edit shows as drift.
 */
import type { Spec } from "../spec/schema";

const TAG = "# lbgw-spec-v1 ";

/** Of the target, only what shapes the configuration: RouterOS's version (its dialect). */
const RECORDED_TARGET: Record<string, string[]> = { routeros: ["version"], linux: [] };

export function specRecord(spec: Spec): string {
  const { owner: _owner, adopt: _adopt, target, ...rest } = spec;
  const kind = target.routeros ? "routeros" : "linux";
  const fields = Object.entries(target[kind] ?? {}).filter(([k]) => RECORDED_TARGET[kind].includes(k));
  const record = { target: { [kind]: Object.fromEntries(fields) }, ...rest };
  // ASCII only (RouterOS stores Windows-1252): anything else as a JSON escape.
  return (
    TAG +
    JSON.stringify(record).replace(
      /[^\x20-\x7e]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    )
  );
}

/** The arguments a record holds (without what it never holds), or undefined when `text` is not a record. */
export function readRecord(text: string | undefined): Record<string, unknown> | undefined {
  const line = (text ?? "").split("\n").find((l) => l.startsWith(TAG));
  if (!line) return undefined;
  try {
    const value = JSON.parse(line.slice(TAG.length)) as unknown;
    return value && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
