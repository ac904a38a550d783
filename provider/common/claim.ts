/**
 * Who holds an owner tag on a device. The owner tag names what a resource writes ("lbgw-office-..."), so
 * two resources with one owner on one device would rewrite and delete each other's configuration. Each
 * device therefore records, next to the owned configuration, the *claim*: the instance id of the resource
 * that wrote it (random, made at create) and its holder (Pulumi project/stack/resource name).
 *
 * - create/update write only under a claim of their own instance, a fresh one, or one they adopt: the
 *   same holder (a replace of this very resource, or a create retried after a failure) or `adopt: true`
 *   at create. Any other claim is refused before the first write, naming its holder.
 * - destroy removes nothing under another instance's claim (a replace's new instance took it over, or
 *   another stack holds it).
 * The claim lives with the configuration (RouterOS: the comment of the owned LAN interface list; Linux: a
 * file beside the prober's), so a rollback or teardown removes it with the rest.
 */
import { randomBytes } from "node:crypto";

export interface Claim {
  instance: string;
  /** "project/stack/resource", in device-safe characters; "" when not known. */
  holder: string;
}

/** What the operation asks for: which instance acts, for whom, and how. */
export interface ClaimIntent extends Claim {
  mode: "create" | "update" | "destroy";
  /** Explicit take-over of a claim held by another instance (create only). */
  adopt?: boolean;
}

export type ClaimVerdict =
  /** Go ahead and (re)write the claim as `claim`. */
  | { kind: "write"; claim: Claim; note?: string }
  /** destroy: leave the device alone, for the reason given. */
  | { kind: "skip"; reason: string };

export class ClaimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClaimError";
  }
}

const INSTANCE = /^[0-9a-f]{6,32}$/;

/** A fresh instance id (12 hex digits: collisions are not a concern at one device's scale). */
export function newInstance(): string {
  return randomBytes(6).toString("hex");
}

export function isInstance(value: unknown): value is string {
  return typeof value === "string" && INSTANCE.test(value);
}

/** Pulumi names may hold any character; a device comment or file keeps a conservative ASCII set. */
export function deviceSafeHolder(holder: string | undefined): string {
  return (holder ?? "").replace(/[^A-Za-z0-9_.@:/-]/g, "_").slice(0, 160);
}

/** The claim as text: " instance=<id> holder=<holder>" (the leading space separates it from a key). */
export function formatClaim(c: Claim): string {
  return ` instance=${c.instance}${c.holder ? ` holder=${c.holder}` : ""}`;
}

/** The claim at the end of a text written by formatClaim, and the text before it. */
export function splitClaim(text: string): { rest: string; claim?: Claim } {
  const m = / instance=([0-9a-f]+)(?: holder=(\S*))?$/.exec(text);
  if (!m || !INSTANCE.test(m[1])) return { rest: text };
  return { rest: text.slice(0, m.index), claim: { instance: m[1], holder: m[2] ?? "" } };
}

function describe(c: Claim): string {
  return `${c.holder ? `resource ${c.holder}` : "another resource"} (instance ${c.instance})`;
}

/**
 * Decides what an operation may do on a device where `found` is the claim of `owner` (undefined: none) and
 * `owned` says whether any configuration of that owner is there. Throws ClaimError to refuse.
 */
export function judgeClaim(
  owner: string,
  device: string,
  found: Claim | undefined,
  owned: boolean,
  intent: ClaimIntent,
): ClaimVerdict {
  const mine: Claim = { instance: intent.instance, holder: deviceSafeHolder(intent.holder) };
  if (found?.instance === intent.instance) return { kind: "write", claim: mine };
  const sameHolder = !!found && !!mine.holder && found.holder === mine.holder;
  if (intent.mode === "destroy") {
    if (found)
      return {
        kind: "skip",
        reason: `owner "${owner}" on ${device} is held by ${describe(found)}: nothing removed`,
      };
    return { kind: "write", claim: mine }; // unclaimed (an older version wrote it): it is this resource's
  }
  if (!found) {
    if (!owned || intent.mode === "update" || intent.adopt) return { kind: "write", claim: mine };
    throw new ClaimError(
      `owner "${owner}" already has configuration on ${device} that no resource claims (written by an older ` +
        "version, or by hand): refusing to take it over. Set `adopt: true` to take it over, or choose another owner",
    );
  }
  if (sameHolder) return { kind: "write", claim: mine, note: `taking over from ${describe(found)}` };
  if (intent.mode === "create" && intent.adopt)
    return { kind: "write", claim: mine, note: `adopting from ${describe(found)} (adopt: true)` };
  throw new ClaimError(
    `owner "${owner}" on ${device} is held by ${describe(found)}: two resources with one owner would ` +
      "rewrite and delete each other's configuration. Choose another `owner`, or set `adopt: true` on a new " +
      "resource to take it over (the other resource then no longer manages it)",
  );
}
