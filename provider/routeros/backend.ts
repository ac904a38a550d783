/**
 * The RouterOS backend: read what the device holds, reconcile with the rendered plan, apply the batches,
 * verify. A failed apply is rolled back to the owned entries read before it (on a new connection if the
 * old one died), so the device is never left worse than before; a rerun converges either way.
 */
import type { Plan } from "../plan/plan";
import type { Logger } from "../common/lock";
import { silent, withDeviceLock } from "../common/lock";
import type { RosVersion } from "./menus";
import { MENUS, MIN_ROUTEROS_7, menusFor, wireName } from "./menus";
import type { Rules } from "../common/rules";
import { keyedRules } from "../common/rules";
import type { Op, PrintedEntry, Reconciliation } from "./reconcile";
import { ownedEntries, reconcile } from "./reconcile";
import type { DesiredState } from "./render";
import { ownershipPrefix, renderRouterOs } from "./render";
import { actualLines, desiredFromActual, desiredLines } from "./script";
import {
  counterName,
  fillAddresses,
  hasAddressStandIns,
  interfaceAddresses,
  nameAddresses,
} from "./netwatch";
import type { RosTarget } from "./session";
import { RosSession, defaultPort } from "./session";
import type { Claim, ClaimIntent } from "../common/claim";
import { ClaimError, formatClaim, judgeClaim, splitClaim } from "../common/claim";
import type { DeviceFacts } from "../common/preflight";
import { preflight } from "../common/preflight";

export interface RouterOsDevice extends RosTarget {
  version: RosVersion;
}

export interface ApplyResult {
  /** Owned entries on the device after the apply, one line each. */
  rules: string[];
  writes: number;
  commands: number;
}

/** Thrown when an apply failed; says whether the previous state was restored. */
export class ApplyError extends Error {
  constructor(
    message: string,
    readonly restored: boolean,
  ) {
    super(message);
    this.name = "ApplyError";
  }
}

/**
 * Rule lines keyed by menu and ownership key ("ip firewall mangle classify:1"); each ordered menu also gets
 * an "(order)" entry listing its keys in order, so a move shows as one changed entry.
 */
export function routerOsRules(lines: string[]): Rules {
  const rules = keyedRules(lines, (line) => {
    const menuPath = line.slice(1, line.indexOf(" add "));
    const key = /comment=lbgw:[A-Za-z0-9_]+:(\S+)$/.exec(line)?.[1] ?? line;
    return `${menuPath} ${key}`;
  });
  for (const m of MENUS.filter((x) => x.placement)) {
    const keys = Object.keys(rules).filter((k) => k.startsWith(`${m.scriptPath.slice(1)} `));
    if (keys.length)
      rules[`${m.scriptPath.slice(1)} (order)`] = keys.map((k) => k.slice(m.scriptPath.length)).join(" ");
  }
  return rules;
}

export function desiredRouterOsLines(plan: Plan, version: RosVersion): string[] {
  return desiredLines(renderRouterOs(plan, version), version);
}

const deviceKey = (d: RouterOsDevice) => `routeros:${d.host}:${d.port ?? ""}`;

async function withSession<T>(
  device: RouterOsDevice,
  log: Logger,
  work: (s: RosSession) => Promise<T>,
): Promise<T> {
  return withDeviceLock(deviceKey(device), async () => {
    log(`connecting to RouterOS at ${device.host}`);
    const session = await RosSession.open(device);
    try {
      return await work(session);
    } finally {
      await session.close();
    }
  });
}

/**
 * Print every menu this backend manages, pipelined with the version check (one round trip). Ordered menus
 * are read in full (positions matter). The router must run the major version the spec was rendered for;
 * that is checked before any print result is used (a wrong version may refuse a menu it lacks).
 */
export async function readDevice(
  session: RosSession,
  version: RosVersion,
  opts: { facts?: boolean } = {},
): Promise<Record<string, PrintedEntry[]>> {
  const menus = menusFor(version);
  const resource = session.command(["/system/resource/print", "=.proplist=version"]);
  const reads = menus.map((m) => {
    const props = [".id", "dynamic", ...Object.keys(m.props).map((p) => wireName(m, version, p))];
    const words = [`${m.path}/print`, `=.proplist=${props.join(",")}`];
    // Unordered menus can be large (BGP routes, blocklists): only entries with a comment can be ours.
    if (!m.placement) words.push("?comment");
    return { path: m.path, words };
  });
  // What the spec is checked against before a write (common/preflight.ts): read-only menus, never written.
  if (opts.facts) reads.push(...FACT_READS);
  const prints = Promise.allSettled(reads.map((r) => session.command(r.words)));
  const running = (await resource)[0]?.version ?? "";
  if (Number(/^(\d+)\./.exec(running)?.[1]) !== version)
    throw new Error(
      `RouterOS version mismatch: the resource is rendered for RouterOS ${version} (target.routeros.version) ` +
        `but ${session.target.host} runs ${running || "an unknown version"}`,
    );
  // The failover's netwatch probes (typed icmp, test-script, src-address) need MIN_ROUTEROS_7 (menus.ts).
  if (version === 7 && olderThan(running, MIN_ROUTEROS_7))
    throw new Error(
      `RouterOS ${running} on ${session.target.host} is older than ${MIN_ROUTEROS_7}, the oldest RouterOS 7 ` +
        `this provider supports (its netwatch failover needs typed probes, test-script and src-address): ` +
        `upgrade the router`,
    );
  const results = await prints;
  return {
    ...Object.fromEntries(
      reads.map(({ path }, i) => {
        const r = results[i];
        if (r.status === "rejected") throw r.reason;
        return [path, r.value];
      }),
    ),
    // Read-only fact, not a managed menu: what a feature's minimum version is checked against.
    "/system/resource": [{ version: running }],
  };
}

/** "7.8 (stable)" older than "7.9"? Numeric parts compared in order; a pre-release counts as its release. */
export function olderThan(running: string, minimum: string): boolean {
  const parts = (v: string) => (/^[\d.]+/.exec(v)?.[0] ?? "").split(".").filter(Boolean).map(Number);
  const [a, b] = [parts(running), parts(minimum)];
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

const FACT_READS = [
  { path: "/interface", words: ["/interface/print", "=.proplist=name"] },
  {
    path: "/ip/address",
    words: ["/ip/address/print", "=.proplist=address,network,interface,disabled,invalid"],
  },
];

/** The device's interfaces, addresses and other owners' router-traffic routes, from a read with facts. */
export function deviceFacts(actual: Record<string, PrintedEntry[]>): DeviceFacts {
  const interfaces: DeviceFacts["interfaces"] = new Map();
  for (const i of actual["/interface"] ?? []) if (i.name) interfaces.set(i.name, []);
  for (const a of actual["/ip/address"] ?? []) {
    if (a.disabled === "true" || a.invalid === "true" || !a.address || !a.interface) continue;
    const [ip, len] = a.address.split("/");
    // A point-to-point address (PPPoE, LTE) is a /32 whose "network" is the peer.
    const peer = len === "32" && a.network && a.network !== ip ? a.network : undefined;
    interfaces.get(a.interface)?.push({ address: a.address, ...(peer ? { peer } : {}) });
  }
  const owners = (actual["/ip/route"] ?? [])
    .map((r) => /^lbgw:([A-Za-z0-9_]+):route:main:/.exec(r.comment ?? "")?.[1])
    .filter((o): o is string => !!o);
  return { interfaces, routerTrafficOwners: [...new Set(owners)] };
}

/** The owned LAN interface list carries the claim in its comment, after the key. */
const CLAIM_MENU = "/interface/list";
const CLAIM_KEY = "lan";

export function claimOnDevice(owner: string, actual: Record<string, PrintedEntry[]>): Claim | undefined {
  const entry = ownedEntries(owner, actual[CLAIM_MENU] ?? []).get(CLAIM_KEY)?.[0];
  return entry ? splitClaim(entry.comment ?? "").claim : undefined;
}

function ownsAnything(owner: string, actual: Record<string, PrintedEntry[]>, version: RosVersion): boolean {
  return menusFor(version).some((m) => ownedEntries(owner, actual[m.path] ?? []).size > 0);
}

/** `desired` with the claim in the comment of its LAN interface list. */
export function withClaim(desired: DesiredState, claim: Claim): DesiredState {
  return {
    ...desired,
    [CLAIM_MENU]: (desired[CLAIM_MENU] ?? []).map((d) =>
      d.key === CLAIM_KEY
        ? {
            ...d,
            attrs: { ...d.attrs, comment: `${splitClaim(d.attrs.comment ?? "").rest}${formatClaim(claim)}` },
          }
        : d,
    ),
  };
}

/** What apply checks before writing: who holds the owner (claim), and the spec against the device. */
export interface ApplyChecks {
  claim?: ClaimIntent;
  plan?: Plan;
}

/** Reads the device and reconciles it with `desired`: what it holds, and the writes that would make it so. */
async function readAndPlan(
  session: RosSession,
  device: RouterOsDevice,
  owner: string,
  desired: DesiredState,
): Promise<{ actual: Record<string, PrintedEntry[]>; plan: Reconciliation }> {
  const actual = await readDevice(session, device.version);
  return { actual, plan: reconcile({ owner, version: device.version, desired, actual }) };
}

export const deviceName = (d: RouterOsDevice): string => `routeros://${d.host}:${defaultPort(d)}`;

export async function applyRouterOs(
  device: RouterOsDevice,
  owner: string,
  wanted: DesiredState,
  log: Logger = silent,
  checks: ApplyChecks = {},
): Promise<ApplyResult> {
  return withSession(device, log, async (session) => {
    const standIns = hasAddressStandIns(wanted);
    const before = await readDevice(session, device.version, { facts: !!checks.plan || standIns });
    // A target several links probe: from each link's address as the device has it now (netwatch.ts).
    const addresses = interfaceAddresses(before);
    // Nothing is written unless the owner is this resource's to write and the spec fits the device.
    let desired = standIns ? fillAddresses(wanted, addresses) : wanted;
    if (checks.claim) {
      const verdict = judgeClaim(
        owner,
        deviceName(device),
        claimOnDevice(owner, before),
        ownsAnything(owner, before, device.version),
        checks.claim,
      );
      if (verdict.kind === "skip") throw new ClaimError(verdict.reason);
      if (verdict.note) log(`${deviceName(device)}: owner ${owner}: ${verdict.note}`);
      desired = withClaim(desired, verdict.claim);
    }
    if (checks.plan) preflight(checks.plan, deviceFacts(before), deviceName(device));
    const plan = reconcile({ owner, version: device.version, desired, actual: before });
    log(`${plan.writes} change(s) to apply on ${device.host}`);
    try {
      await runBatches(session, plan.batches);
    } catch (e) {
      const restored = await rollback(device, owner, before, log);
      throw new ApplyError(
        `applying to ${device.host} failed: ${(e as Error).message}. ` +
          (restored ? "The previous configuration was restored." : "Run the update again to converge."),
        restored,
      );
    }
    // Verification is for what was written: with nothing written, the read above already is the device's
    // state (a no-op is one round trip shorter).
    let after = before;
    if (plan.writes > 0) {
      log(`verifying ${device.host}`);
      const verified = await readAndPlan(session, device, owner, desired);
      if (verified.plan.writes > 0)
        throw new ApplyError(
          `${device.host} did not converge: ${verified.plan.writes} difference(s) remain after applying`,
          false,
        );
      after = verified.actual;
      // Probes the update removed leave their counters behind: forgotten too.
      const kept = new Set((desired["/tool/netwatch"] ?? []).map((d) => d.key));
      const gone = probeKeys(owner, before).filter((k) => !kept.has(k));
      if (device.version === 7 && gone.length) await forgetRoundCounters(session, owner, gone);
    }
    return {
      rules: actualLines(owner, nameAddresses(after, addresses), device.version),
      writes: session.stats.writes,
      commands: session.stats.commands,
    };
  });
}

async function rollback(
  device: RouterOsDevice,
  owner: string,
  before: Record<string, PrintedEntry[]>,
  log: Logger,
): Promise<boolean> {
  log(`restoring the previous configuration on ${device.host}`);
  try {
    const session = await RosSession.open(device);
    try {
      const desired = desiredFromActual(owner, before, device.version);
      await runBatches(session, (await readAndPlan(session, device, owner, desired)).plan.batches);
      return true;
    } finally {
      await session.close();
    }
  } catch (e) {
    log(`could not restore ${device.host}: ${(e as Error).message}`);
    return false;
  }
}

/** The owned entries on the device, as rule lines (what refresh compares). */
export async function readRouterOs(
  device: RouterOsDevice,
  owner: string,
  log: Logger = silent,
): Promise<string[]> {
  return withSession(device, log, async (session) => {
    const actual = await readDevice(session, device.version);
    // Probes that leave from an interface's address are shown with the address named (netwatch.ts).
    const sourced = ownedEntries(owner, actual["/tool/netwatch"] ?? []);
    if (![...sourced.values()].some((es) => es.some((e) => e["src-address"])))
      return actualLines(owner, actual, device.version);
    const facts = await session.command(FACT_READS[1].words);
    return actualLines(
      owner,
      nameAddresses(actual, interfaceAddresses({ "/ip/address": facts })),
      device.version,
    );
  });
}

/**
 * For `pulumi import` (plugin/import.ts): the running version, and the owner's spec record and claim as the
 * router holds them. Reads only the two entries, so it works whatever the router's major version.
 */
export async function readRouterOsRecord(
  device: Omit<RouterOsDevice, "version">,
  owner: string,
  log: Logger = silent,
): Promise<{ running: string; record: string; claim: Claim | undefined }> {
  return withSession({ ...device, version: 7 }, log, async (session) => {
    const comment = (key: string) => `?comment=${ownershipPrefix(owner)}${key}`;
    const [resource, scripts, lists] = await Promise.all([
      session.command(["/system/resource/print", "=.proplist=version"]),
      session.command(["/system/script/print", "=.proplist=.id,source,comment", comment("spec")]),
      session.command(["/interface/list/print", "=.proplist=.id,name,comment,dynamic", "?comment"]),
    ]);
    return {
      running: resource[0]?.version ?? "",
      record: scripts[0]?.source ?? "",
      claim: claimOnDevice(owner, { [CLAIM_MENU]: lists }),
    };
  });
}

/**
 * Removes every owned entry, the users the sticky lists learned (dynamic entries of our lists), and the
 * probes' round counters (RouterOS 7 script globals).
 */
export async function destroyRouterOs(
  device: RouterOsDevice,
  owner: string,
  log: Logger = silent,
  claim?: ClaimIntent,
): Promise<number> {
  return withSession(device, log, async (session) => {
    const { actual, plan } = await readAndPlan(session, device, owner, {});
    if (claim) {
      const verdict = judgeClaim(owner, deviceName(device), claimOnDevice(owner, actual), true, claim);
      if (verdict.kind === "skip") {
        log(verdict.reason);
        return 0;
      }
    }
    log(`removing ${plan.writes} group(s) of owned entries from ${device.host}`);
    await runBatches(session, plan.batches);
    const learned = await session.command([
      "/ip/firewall/address-list/print",
      "=.proplist=.id,list",
      "?dynamic=true",
    ]);
    const ours = learned.filter((e) => (e.list ?? "").startsWith(`lbgw-${owner}-`)).map((e) => e[".id"]);
    if (ours.length) await session.command(["/ip/firewall/address-list/remove", `=.id=${ours.join(",")}`]);
    if (device.version === 7) await forgetRoundCounters(session, owner, probeKeys(owner, actual));
    return session.stats.writes;
  });
}

/** Keys of the owner's netwatch probes ("watch:<link>:<j>") among `actual`'s entries. */
const probeKeys = (owner: string, actual: Record<string, PrintedEntry[]>): string[] => [
  ...ownedEntries(owner, actual["/tool/netwatch"] ?? []).keys(),
];

/**
 * The round counters of removed probes (by the probes' keys): globals that their RouterOS 7 test-scripts left
 * in the router's memory (netwatch.ts counterName). Other scripts' globals stay.
 */
async function forgetRoundCounters(session: RosSession, owner: string, probeKeys: string[]): Promise<void> {
  const counters = new Set(
    probeKeys
      .map((key) => /^watch:(.+):(\d+)$/.exec(key))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => counterName(owner, m[1], Number(m[2]))),
  );
  if (counters.size === 0) return;
  const globals = await session.command(["/system/script/environment/print", "=.proplist=.id,name"]);
  const ids = globals.filter((g) => counters.has(g.name ?? "")).map((g) => g[".id"]);
  if (ids.length) await session.command(["/system/script/environment/remove", `=.id=${ids.join(",")}`]);
}

/** Batches in sequence; the operations of a batch pipelined on the connection. */
export async function runBatches(session: RosSession, batches: Op[][]): Promise<void> {
  const added = new Map<string, string>();
  const ref = (r: { id: string } | { key: string }) => ("id" in r ? r.id : (added.get(r.key) as string));
  for (const batch of batches)
    await Promise.all(
      batch.map(async (op) => {
        const words = opWords(op, ref);
        const result = await session.command(words);
        if (op.op === "add") added.set(op.key, result[0]?.ret ?? "");
      }),
    );
}

export function opWords(op: Op, ref: (r: { id: string } | { key: string }) => string): string[] {
  const attrs = (a: Record<string, string>) => Object.entries(a).map(([k, v]) => `=${k}=${v}`);
  switch (op.op) {
    case "add":
      return [`${op.menu}/add`, ...attrs(op.attrs)];
    case "set":
      return [`${op.menu}/set`, `=.id=${op.id}`, ...attrs(op.attrs)];
    case "unset":
      return [`${op.menu}/unset`, `=numbers=${op.id}`, `=value-name=${op.prop}`];
    case "enable":
      return [`${op.menu}/enable`, `=numbers=${op.id}`];
    case "move":
      return [
        `${op.menu}/move`,
        `=numbers=${op.entries.map(ref).join(",")}`,
        ...(op.destination ? [`=destination=${op.destination}`] : []),
      ];
    case "remove":
      return [`${op.menu}/remove`, `=.id=${op.ids.join(",")}`];
  }
}

export { ownershipPrefix };
