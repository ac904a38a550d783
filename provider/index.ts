/**
 * The dynamic provider's methods, loaded by package name from the thin provider object in sdk/ (so the
 * closure Pulumi serialises into the state holds no code of ours and no credentials).
 *
 * `check` validates the arguments (nothing touches a device before that) and adds `rules`: the rule lines
 * the device should hold. Create/update/read return the lines the device *does* hold under the same key,
 * so `pulumi preview --diff` and `pulumi refresh` show changes rule by rule.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Backend } from "./backends";
import { backendFor, deviceOf } from "./backends";
import type { ClaimIntent } from "./common/claim";
import { isInstance, newInstance } from "./common/claim";
import type { Rules } from "./common/rules";
import type { Logger } from "./common/lock";
import { buildPlan } from "./plan/plan";
import { approximations } from "./routeros/netwatch";
import type { CheckFailure, Spec } from "./spec/schema";
import { parseSpec } from "./spec/schema";

/** Pulumi's placeholder for values not known during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/**
 * Keys the provider adds or Pulumi owns; everything else is the user's spec. `holder` (the SDK sets it:
 * "project/stack/resource") and `instance` (made at create) identify the resource in its claim on the device
 * (common/claim.ts). `linkStatus` is the live state of the uplinks (after a refresh): status, not
 * configuration, so it is never compared (stable()).
 */
const DERIVED_KEYS = ["rules", "device", "ownedEntries", "instance", "holder", "linkStatus", "__provider"];

export interface Outputs {
  /** Owned device objects by identity, each as one line (see common/rules.ts). */
  rules: Rules;
  device: string;
  /** How many objects the resource owns on the device. */
  ownedEntries: number;
  /** This resource instance's id in the claim of its owner on the device. */
  instance: string;
  [key: string]: unknown;
}

function outputs(backend: Backend, lines: string[]): Pick<Outputs, "rules" | "device" | "ownedEntries"> {
  return { rules: backend.keyed(lines), device: backend.device, ownedEntries: lines.length };
}

function specOf(props: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(props).filter(([k]) => !DERIVED_KEYS.includes(k)));
}

function unknownPaths(value: unknown, path = ""): string[] {
  if (value === UNKNOWN) return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => unknownPaths(v, `${path}[${i}]`));
  if (value && typeof value === "object")
    return Object.entries(value).flatMap(([k, v]) => unknownPaths(v, path ? `${path}.${k}` : k));
  return [];
}

function parseOrThrow(props: Record<string, unknown>): Spec {
  const result = parseSpec(specOf(props));
  if (!result.ok)
    throw new Error(
      `invalid arguments: ${result.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`,
    );
  return result.spec;
}

export async function check(
  _olds: Record<string, unknown>,
  news: Record<string, unknown>,
): Promise<{ inputs: Record<string, unknown>; failures: CheckFailure[] }> {
  const raw = specOf(news);
  const meta = { ...(news.holder === undefined ? {} : { holder: news.holder }) };
  const unknown = unknownPaths(raw);
  const result = parseSpec(raw);
  // A placeholder can pass validation (it looks like a DNS or interface name): with any value unknown, only
  // what is known is judged, and nothing is rendered from a placeholder.
  if (!result.ok || unknown.length > 0) {
    // During preview a value may not be known yet: only what is known can be judged.
    // A link name not known yet cannot be checked against routerTraffic or pins either.
    const unknownLinkName = unknown.some((u) => u === "links" || /^links\[\d+\](\.name)?$/.test(u));
    const dependsOnLinkName = (p: string) => p === "routerTraffic" || /^pins\[\d+\]\.link$/.test(p);
    const failures = (result.ok ? [] : result.failures).filter(
      (f) =>
        !unknown.some((u) => f.property.startsWith(u)) && !(unknownLinkName && dependsOnLinkName(f.property)),
    );
    // What is known of the outputs: the device (so diff can tell an update from a move), and rules still to
    // be computed.
    const device = unknown.some((u) => u === "target" || u.startsWith("target."))
      ? undefined
      : deviceOf(raw.target);
    const partial = failures.length === 0 ? { rules: UNKNOWN, ...(device ? { device } : {}) } : {};
    return { inputs: { ...raw, ...meta, ...partial }, failures };
  }
  const plan = buildPlan(result.spec);
  // What the device cannot honour of the spec is said before anything is applied (the engine shows a
  // provider's stderr on the resource's line).
  const ros = result.spec.target.routeros;
  if (ros) for (const w of approximations(plan, ros.version)) providerLog(`warning: ${w}`);
  const backend = await backendFor(result.spec, plan);
  return { inputs: { ...raw, ...meta, ...outputs(backend, backend.desiredLines()) }, failures: [] };
}

/** A value that is known: present and not Pulumi's placeholder (a value still being computed). */
const known = (v: unknown) => v !== undefined && unknownPaths(v).length === 0;

export async function diff(
  _id: string,
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
): Promise<pulumi.dynamic.DiffResult> {
  // Only what is known can require a replace: another device, or another owner (every name changes). A
  // value not known yet is an update with unknowns; `up` decides again once it is known.
  const replaces: string[] = [];
  if (known(news.device) && olds.device !== news.device) replaces.push("device");
  if (known(news.owner) && (olds.owner ?? null) !== news.owner) replaces.push("owner");
  const changed = JSON.stringify(stable(olds)) !== JSON.stringify(stable(news));
  return { changes: changed || replaces.length > 0, replaces, deleteBeforeReplace: false };
}

/**
 * Props compared by diff: the spec and the rules, in a key order independent of how they were built. The
 * spec as validated where it is valid, so that spelling out a default (or leaving one out, as an imported
 * resource's arguments do not) is no change. Not `linkStatus`: an uplink going down or its connection count
 * changing is not a configuration change.
 */
function stable(props: Record<string, unknown>): unknown {
  const { __provider: _ignored, instance: _made, linkStatus: _live, ...rest } = props;
  const raw = specOf(rest);
  const parsed = parseSpec(raw);
  const derived = Object.fromEntries(Object.entries(rest).filter(([k]) => DERIVED_KEYS.includes(k)));
  return sortKeys({ ...derived, spec: parsed.ok ? parsed.spec : raw });
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

/** The claim this operation acts under: the instance, and the holder the SDK passed. */
function claimIntent(
  props: Record<string, unknown>,
  instance: string,
  mode: ClaimIntent["mode"],
  spec?: Spec,
): ClaimIntent {
  return {
    instance,
    holder: typeof props.holder === "string" ? props.holder : "",
    mode,
    adopt: spec?.adopt ?? false,
  };
}

async function applyAndDescribe(
  props: Record<string, unknown>,
  instance: string,
  mode: "create" | "update",
  log: Logger,
): Promise<Outputs> {
  const spec = parseOrThrow(props);
  const backend = await backendFor(spec, buildPlan(spec));
  const result = await backend.apply(log, claimIntent(props, instance, mode, spec));
  log(`${backend.device}: ${result.writes} write(s), ${result.rules.length} owned entries verified`);
  const holder = props.holder === undefined ? {} : { holder: props.holder };
  return { ...specOf(props), ...holder, ...outputs(backend, result.rules), instance };
}

export async function create(props: Record<string, unknown>): Promise<pulumi.dynamic.CreateResult> {
  const outs = await applyAndDescribe(props, newInstance(), "create", providerLog);
  return { id: `${(props.owner as string) ?? "lbgw"}@${outs.device}`, outs };
}

export async function update(
  _id: string,
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
): Promise<pulumi.dynamic.UpdateResult> {
  // A resource created before claims existed gets its instance (and claim) now.
  const instance = isInstance(olds.instance) ? olds.instance : newInstance();
  return { outs: await applyAndDescribe(news, instance, "update", providerLog) };
}

export async function read(id: string, props: Record<string, unknown>): Promise<pulumi.dynamic.ReadResult> {
  const spec = parseOrThrow(props);
  const backend = await backendFor(spec, buildPlan(spec));
  const { linkStatus: _old, ...kept } = props;
  const refreshed = { ...kept, ...outputs(backend, await backend.read(providerLog)) };
  // Also as inputs: the next `up` then diffs the spec's rules against what the device really holds, and
  // shows the repair of drift entry by entry. The live link status only as an output.
  return { id, props: { ...refreshed, ...(await linkStatusOf(spec)) }, inputs: refreshed };
}

/**
 * The `linkStatus` output: each link's live state by link name (common/status.ts), read after the rules.
 * A status that cannot be read (an old prober without its status file still gives up/down) never fails
 * the refresh: it is left out, and said on the resource's line.
 */
async function linkStatusOf(spec: Spec): Promise<{ linkStatus?: Record<string, unknown> }> {
  try {
    const { readStatus } = await import("./status");
    const s = await readStatus(spec, buildPlan(spec));
    for (const n of s.notes) providerLog(`status: ${n}`);
    return {
      linkStatus: Object.fromEntries(
        s.links.map(({ link, ...rest }) => [link, { ...rest, readAt: s.readAt }]),
      ),
    };
  } catch (e) {
    providerLog(`could not read the link status: ${(e as Error).message}`);
    return {};
  }
}

export async function remove(_id: string, props: Record<string, unknown>): Promise<void> {
  const spec = parseOrThrow(props);
  const backend = await backendFor(spec, buildPlan(spec));
  // Without an instance (created before claims existed) only unclaimed configuration is removed.
  const instance = isInstance(props.instance) ? props.instance : "";
  await backend.destroy(providerLog, claimIntent(props, instance, "destroy"));
}

/**
 * Progress lines. The dynamic-provider host has no engine logging of its own, and the engine shows its
 * stderr, so progress goes there, one line per step; the plugin (plugin/progress.ts) sends them to the
 * engine instead.
 */
let progressSink = (line: string): void => void process.stderr.write(`${line}\n`);

export function setProgressSink(sink: (line: string) => void): void {
  progressSink = sink;
}

export const providerLog: Logger = (message) => progressSink(`lbgw: ${message}`);
