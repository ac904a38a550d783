/**
 * Reconcile a Linux gateway with the rendered plan over one SSH session per operation:
 * read (one round trip) → compare line by line → write only what differs → read back and verify.
 *
 * - nft: the owned table is replaced in one transaction ("add table; delete table; table {...}"), so
 *   packets see the old rules or the new ones, never a mix; foreign tables are never named.
 * - iproute2: one `ip -batch` with `route replace` for missing routes, `rule add` for missing rules, then
 *   `rule del` / `route del` for owned ones no longer wanted (owned = fixed priority range + our tables).
 * - sysctls and the prober through fixed scripts (remote.ts) whose data comes on stdin; the prober's files
 *   include boot.sh (script.ts), which its systemd unit runs after a reboot.
 * - A failed write restores the owned nft table, rules, routes, sysctls and prober read before it (on a
 *   new connection if the old one died); either way a rerun converges.
 */
import type { Logger } from "../common/lock";
import { silent, withDeviceLock } from "../common/lock";
import {
  actualRuleLines,
  concreteRules,
  desiredLines,
  isOwnedRule,
  nftLines,
  parseNftTable,
  proberLine,
  routeArgs,
  ruleArgs,
  sortRoutes,
  sysctlLine,
  type IpRuleJson,
  type RouteJson,
} from "./lines";
import type { Claim, ClaimIntent } from "../common/claim";
import { formatClaim, judgeClaim, splitClaim } from "../common/claim";
import type { DeviceFacts } from "../common/preflight";
import { preflight } from "../common/preflight";
import type { Plan } from "../plan/plan";
import {
  CLAIM_SCRIPT,
  frame,
  PROBER_INSTALL_SCRIPT,
  proberInstallInput,
  READ_SCRIPT,
  script,
  SYSCTL_SCRIPT,
  sysctlInput,
  sysctlSet,
  TEARDOWN_SCRIPT,
  unframe,
} from "./remote";
import type { LinuxDesired, NftTable } from "./render";
import { nftReplaceFile, OWNED_TABLES } from "./render";
import { bootScript, proberFilesHash } from "./script";
import type { LinuxTarget, SessionHooks } from "./session";
import { LinuxSession, RemoteCommandError } from "./session";

/** What the gateway holds of ours (and what we must know about the rest). */
export interface DeviceState {
  /** Every nft table, "family name". */
  tables: string[];
  nft: NftTable | undefined;
  rules: IpRuleJson[];
  /** Owned routes, as `ip route` arguments with "table N". */
  routes: string[];
  addrs: Map<string, string[]>;
  /** Interfaces, addresses and peers, for the checks before a write (common/preflight.ts). */
  facts: DeviceFacts;
  /** The owner's claim file as read ("" when there is none). */
  claimText: string;
  /** The spec record line of the prober's config (common/record.ts), "" when there is none. */
  recordText: string;
  sysctls: Map<string, string>;
  /** Sysctls whose previous value the resource recorded, with that value (owned until restored). */
  saved: Map<string, string>;
  prober: { hash: string | undefined; running: boolean; maps: string[]; state: string };
}

export interface LinuxApplyResult {
  rules: string[];
  writes: number;
  /** SSH commands (round trips) of the operation, reads included. */
  commands: number;
  ms: number;
}

export class LinuxApplyError extends Error {
  constructor(
    message: string,
    readonly restored: boolean,
  ) {
    super(message);
    this.name = "LinuxApplyError";
  }
}

const NFT = ["nft", "-f", "-"];
const IP_BATCH = ["ip", "-4", "-batch", "-"];

export async function readDevice(
  session: LinuxSession,
  d: Pick<LinuxDesired, "owner" | "sysctls">,
): Promise<DeviceState> {
  const out = await session.check("reading the gateway's state", script(READ_SCRIPT), {
    input: frame({ owner: d.owner, sysctl: d.sysctls.map((s) => s.path).join("\n") + "\n" }),
  });
  const s = unframe(out);
  const json = <T>(name: string): T[] => {
    const text = (s.get(name) ?? "").trim();
    return text ? (JSON.parse(text) as T[]) : [];
  };
  const routes = OWNED_TABLES.flatMap((t) => json<RouteJson>(`route${t}`).map((r) => routeArgs(r, t)));
  const addrs = new Map<string, string[]>();
  const interfaces: DeviceFacts["interfaces"] = new Map();
  for (const l of json<{ ifname: string }>("links")) interfaces.set(l.ifname, []);
  type AddrInfo = { family: string; local: string; prefixlen: number; address?: string };
  for (const a of json<{ ifname: string; addr_info?: AddrInfo[] }>("addrs")) {
    const inet = (a.addr_info ?? []).filter((i) => i.family === "inet");
    addrs.set(
      a.ifname,
      inet.map((i) => i.local),
    );
    // A point-to-point address prints its peer as "address".
    const own = inet.map((i) => ({
      address: `${i.local}/${i.prefixlen}`,
      ...(i.address && i.address !== i.local ? { peer: i.address } : {}),
    }));
    interfaces.set(a.ifname, own);
  }
  const sysctls = new Map<string, string>();
  for (const line of (s.get("sysctl") ?? "").split("\n")) {
    const m = /^(\S+) (.*)$/.exec(line);
    if (m) sysctls.set(m[1], m[2]);
  }
  const prober = s.get("prober") ?? "";
  return {
    tables: (s.get("tables") ?? "")
      .split("\n")
      .map((l) => /^table (\S+ \S+)$/.exec(l.trim())?.[1])
      .filter((t): t is string => !!t),
    nft: parseNftTable(s.get("nft") ?? ""),
    rules: json<IpRuleJson>("rules").filter(isOwnedRule),
    routes: sortRoutes(routes),
    addrs,
    facts: { interfaces, routerTrafficOwners: [] },
    claimText: (s.get("claim") ?? "").trim(),
    recordText: (s.get("record") ?? "").trim(),
    sysctls,
    saved: new Map(
      (s.get("saved") ?? "")
        .split("\n")
        .map((l) => /^(\S+) ?(.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => !!m)
        .map((m) => [m[1], m[2]]),
    ),
    prober: {
      hash: /^hash (\S+)$/m.exec(prober)?.[1],
      running: /^running yes$/m.test(prober),
      maps: (s.get("maps") ?? "").split("\n").filter(Boolean),
      state: s.get("state") ?? "",
    },
  };
}

/**
 * The device's nft table as lines, with the prober's maps shown as configured when they hold what this
 * configuration's prober last wrote (a link is down: that is the prober's job, not drift). Exactly what the
 * prober owns is masked: the values of the `slots` and `live` elements, each one of this configuration's
 * link marks. Their keys are configuration, and a record written by another configuration's prober (one
 * left from before an apply or a rollback) masks nothing.
 */
function nftActual(d: LinuxDesired, state: DeviceState): NftTable | undefined {
  if (!state.nft) return undefined;
  const want = new Map(d.nft.objects.map((o) => [o.name, o]));
  const recordedBy = /^hash (\S+)$/.exec(state.prober.maps.find((l) => l.startsWith("hash ")) ?? "")?.[1];
  if (recordedBy !== d.prober.hash) return state.nft;
  const marks = new Set(
    (want.get("live")?.elements ?? []).map((e) => e.split(" : ")[0]).filter((m) => /^0x[0-9a-f]+$/.test(m)),
  );
  const sorted = (a: string[]) => JSON.stringify([...a].sort());
  const keys = (elements: string[]) => elements.map((e) => e.split(" : ")[0]);
  return {
    ...state.nft,
    objects: state.nft.objects.map((o) => {
      const w = want.get(o.name);
      if (!w || !d.proberMaps.includes(o.name) || o.kind !== "map" || w.kind !== "map") return o;
      const recorded = state.prober.maps
        .filter((l) => l.startsWith(`${o.name} `))
        .map((l) => l.slice(o.name.length + 1));
      const owned =
        recorded.length > 0 &&
        sorted(o.elements) === sorted(recorded) &&
        sorted(keys(o.elements)) === sorted(keys(w.elements)) &&
        o.elements.every((e) => marks.has(e.split(" : ")[1] ?? ""));
      return owned ? { ...o, elements: [...w.elements] } : o;
    }),
  };
}

export function actualLines(d: LinuxDesired, state: DeviceState): string[] {
  const nft = nftActual(d, state);
  return [
    ...(nft ? nftLines(nft) : []),
    ...actualRuleLines(d.rules, state.rules, state.addrs),
    ...state.routes.map((r) => `ip route ${r}`),
    ...d.sysctls
      .filter((s) => state.saved.has(s.path))
      .map((s) => sysctlLine(s.path, state.sysctls.get(s.path) ?? "(missing)")),
    // Recorded for an uplink that is no longer wanted: still to be put back (the next apply does).
    ...[...state.saved]
      .filter(([path]) => !d.sysctls.some((s) => s.path === path))
      .map(([path, was]) =>
        sysctlLine(path, `${state.sysctls.get(path) ?? "(missing)"} (to restore: ${was || "(empty)"})`),
      ),
    ...(state.prober.hash || state.prober.running
      ? [proberLine(d.owner, state.prober.hash ?? "(no files)", state.prober.running)]
      : []),
  ];
}

/** What to write: each part undefined when the device already matches. */
export interface Changes {
  /** The claim file's new text ("" removes it). */
  claim?: string;
  nft?: string;
  ipBatch?: string;
  sysctls?: string;
  prober: boolean;
}

/** Compares desired and device state; a converged device yields no changes at all. */
export function diffState(d: LinuxDesired, state: DeviceState): Changes {
  const actualNft = nftActual(d, state);
  const nftChanged = JSON.stringify(actualNft ? nftLines(actualNft) : []) !== JSON.stringify(nftLines(d.nft));
  const rules = concreteRules(d.rules, state.addrs);
  const ipBatch = ipBatchFor(rules, sortRoutes(d.routes), state);
  // The sysctl script also restores and forgets recorded values no longer wanted (a removed uplink's).
  const sysctlsChanged =
    d.sysctls.some((s) => !state.saved.has(s.path) || state.sysctls.get(s.path) !== s.value) ||
    [...state.saved.keys()].some((path) => !d.sysctls.some((s) => s.path === path));
  return {
    nft: nftChanged ? nftReplaceFile(d.nft) : undefined,
    ipBatch,
    sysctls: sysctlsChanged ? sysctlSet(d) : undefined,
    prober: nftChanged || state.prober.hash !== proberFilesHash(d) || !state.prober.running,
  };
}

/** `ip -batch` lines taking the owned rules and routes from `state` to the wanted ones; undefined if none. */
export function ipBatchFor(rules: string[], routes: string[], state: DeviceState): string | undefined {
  const haveRules = state.rules.map(ruleArgs);
  const lines = [
    ...routes.filter((r) => !state.routes.includes(r)).map((r) => `route replace ${r}`),
    ...rules.filter((r) => !haveRules.includes(r)).map((r) => `rule add ${r}`),
    ...haveRules.filter((r) => !rules.includes(r)).map((r) => `rule del ${r}`),
    ...state.routes.filter((r) => !routes.includes(r)).map((r) => `route del ${r}`),
  ];
  return lines.length ? lines.join("\n") + "\n" : undefined;
}

async function withSession<T>(
  target: LinuxTarget,
  hooks: SessionHooks,
  log: Logger,
  work: (s: LinuxSession) => Promise<T>,
): Promise<T> {
  return withDeviceLock(`linux:${target.host}:${target.port}`, async () => {
    log(`connecting to ${target.user}@${target.host}:${target.port}`);
    const session = await LinuxSession.open(target, hooks);
    try {
      return await work(session);
    } finally {
      session.close();
    }
  });
}

/** The owner's claim as the claim file holds it: one line, "instance=<id> holder=<holder>". */
const claimIn = (text: string): Claim | undefined => splitClaim(` ${text.trim()}`).claim;
const claimFile = (c: Claim): string => `${formatClaim(c).trim()}\n`;

function ownsAnything(state: DeviceState): boolean {
  return (
    !!state.nft ||
    state.rules.length > 0 ||
    state.routes.length > 0 ||
    state.saved.size > 0 ||
    !!state.prober.hash ||
    state.prober.running
  );
}

const deviceName = (t: LinuxTarget) => `linux://${t.host}:${t.port}`;

/** What apply checks before writing: who holds the owner (claim), and the spec against the device. */
export interface ApplyChecks {
  claim?: ClaimIntent;
  plan?: Plan;
}

/** Another resource's table on the same gateway would fight over marks, tables and rule priorities. */
function refuseForeignOwner(d: LinuxDesired, state: DeviceState, host: string): void {
  const others = state.tables.filter((t) => /^inet lbgw_/.test(t) && t !== `inet ${d.nft.name}`);
  if (others.length)
    throw new LinuxApplyError(
      `${host} is already managed by another LoadBalancedGateway (${others.join(", ")}): ` +
        "one resource per gateway (marks 0x101-0x110, tables 101-116 and rule priorities 10000-10399 are shared)",
      true,
    );
}

export async function applyLinux(
  target: LinuxTarget,
  d: LinuxDesired,
  log: Logger = silent,
  hooks: SessionHooks = {},
  checks: ApplyChecks = {},
): Promise<LinuxApplyResult> {
  const started = Date.now();
  return withSession(target, hooks, log, async (session) => {
    const before = await readDevice(session, d);
    // Nothing is written unless the owner is this resource's to write and the spec fits the device.
    let claim: string | undefined;
    if (checks.claim) {
      const verdict = judgeClaim(
        d.owner,
        deviceName(target),
        claimIn(before.claimText),
        ownsAnything(before),
        checks.claim,
      );
      if (verdict.kind === "skip") throw new LinuxApplyError(verdict.reason, true);
      if (verdict.note) log(`${deviceName(target)}: owner ${d.owner}: ${verdict.note}`);
      claim = claimFile(verdict.claim);
    }
    refuseForeignOwner(d, before, target.host);
    if (checks.plan) preflight(checks.plan, before.facts, deviceName(target));
    const changes = diffState(d, before);
    if (claim !== undefined && claim.trim() !== before.claimText) changes.claim = claim;
    const parts = [
      changes.claim !== undefined && "claim",
      changes.ipBatch && "rules/routes",
      changes.nft && "nft table",
      changes.sysctls && "sysctls",
    ]
      .concat(changes.prober ? ["prober"] : [])
      .filter(Boolean);
    log(parts.length ? `${target.host}: updating ${parts.join(", ")}` : `${target.host}: already up to date`);
    if (parts.length === 0)
      return {
        rules: actualLines(d, before),
        writes: 0,
        commands: session.stats.commands,
        ms: Date.now() - started,
      };
    try {
      await writeChanges(session, d, changes);
    } catch (e) {
      const restored = await rollback(target, d, before, log, session);
      throw new LinuxApplyError(
        `applying to ${target.host} failed: ${(e as Error).message}. ` +
          (restored
            ? "The previous nft table, rules, routes, sysctls and prober were restored."
            : "Could not restore the previous state: run the update again to converge."),
        restored,
      );
    }
    const after = await readDevice(session, d);
    const lines = actualLines(d, after);
    const want = desiredLines(d);
    const missing = want.filter((l) => !lines.includes(l));
    const extra = lines.filter((l) => !want.includes(l));
    if (missing.length || extra.length)
      throw new LinuxApplyError(
        `${target.host} did not converge: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}`,
        false,
      );
    return {
      rules: lines,
      writes: session.stats.writes,
      commands: session.stats.commands,
      ms: Date.now() - started,
    };
  });
}

/** Routes before the rules that use them, rules before the marks that need them, the prober last. */
async function writeChanges(session: LinuxSession, d: LinuxDesired, c: Changes): Promise<void> {
  // The claim first: a write cut short leaves configuration that says whose it is.
  if (c.claim !== undefined) await writeClaim(session, d.owner, c.claim);
  if (c.ipBatch)
    await session.check("ip -batch (rules and routes)", IP_BATCH, { input: c.ipBatch, write: true });
  if (c.sysctls)
    await session.check("setting sysctls", script(SYSCTL_SCRIPT), {
      input: sysctlInput(d.owner, c.sysctls),
      write: true,
    });
  if (c.nft) await session.check("nft -f (the owned table)", NFT, { input: c.nft, write: true });
  if (c.prober)
    await session.check("installing the prober", script(PROBER_INSTALL_SCRIPT), {
      input: proberInstallInput(d, bootScript(d)),
      write: true,
    });
}

const writeClaim = (session: LinuxSession, owner: string, text: string) =>
  session.check("writing the claim", script(CLAIM_SCRIPT), {
    input: frame({ owner, claim: text }),
    write: true,
  });

/**
 * The sysctl script's input that takes the recorded sysctls from `now` back to `before`: the keys recorded
 * then, at their values then (the script restores and forgets keys recorded since: a first create that
 * failed leaves every sysctl as it found it). Undefined when nothing differs.
 */
export function sysctlsToRestore(before: DeviceState, now: DeviceState): string | undefined {
  const keys = [...before.saved.keys()].filter((k) => before.sysctls.has(k));
  const same =
    now.saved.size === before.saved.size &&
    [...now.saved.keys()].every((k) => before.saved.has(k)) &&
    keys.every((k) => now.sysctls.get(k) === before.sysctls.get(k));
  return same ? undefined : keys.map((k) => `${k} ${before.sysctls.get(k)}\n`).join("");
}

/**
 * Puts back the nft table, rules, routes and prober read before the failed apply. Its first read waits
 * for a prober job the failed session may have left running on the gateway; the prober is then put back
 * (its previous files, kept by the job) and restarted, so it writes its maps into the restored table.
 */
async function rollback(
  target: LinuxTarget,
  d: LinuxDesired,
  before: DeviceState,
  log: Logger,
  failed: LinuxSession,
): Promise<boolean> {
  log(`restoring the previous state of ${target.host}`);
  let session = failed;
  try {
    try {
      await failed.run(["true"]);
    } catch {
      session = await LinuxSession.open(target);
    }
    try {
      const now = await readDevice(session, d);
      const batch = ipBatchFor(before.rules.map(ruleArgs), before.routes, now);
      const nft = before.nft
        ? nftReplaceFile(before.nft)
        : now.nft
          ? `delete table inet ${d.nft.name}\n`
          : undefined;
      if (now.claimText !== before.claimText)
        await writeClaim(session, d.owner, before.claimText ? `${before.claimText}\n` : "");
      if (nft) await session.check("restoring the nft table", NFT, { input: nft, write: true });
      if (batch) await session.check("restoring rules and routes", IP_BATCH, { input: batch, write: true });
      const sysctls = sysctlsToRestore(before, now);
      if (sysctls !== undefined)
        await session.check("restoring sysctls", script(SYSCTL_SCRIPT), {
          input: sysctlInput(d.owner, sysctls),
          write: true,
        });
      const had = before.prober.hash !== undefined || before.prober.running;
      const has = now.prober.hash !== undefined || now.prober.running;
      if (had || has)
        await session.check("restoring the prober", script(PROBER_INSTALL_SCRIPT), {
          input: frame({
            owner: d.owner,
            revert: `${before.prober.hash ?? "none"} ${before.prober.running ? "yes" : "no"}\n`,
          }),
          write: true,
        });
      return true;
    } finally {
      if (session !== failed) session.close();
    }
  } catch (e) {
    log(`could not restore ${target.host}: ${(e as Error).message}`);
    return false;
  }
}

export async function readLinux(
  target: LinuxTarget,
  d: LinuxDesired,
  log: Logger = silent,
  hooks: SessionHooks = {},
): Promise<string[]> {
  return withSession(target, hooks, log, async (session) => actualLines(d, await readDevice(session, d)));
}

/** For `pulumi import` (plugin/import.ts): the owner's spec record and claim, as the gateway holds them. */
export async function readLinuxRecord(
  target: LinuxTarget,
  owner: string,
  log: Logger = silent,
): Promise<{ record: string; claim: Claim | undefined }> {
  return withSession(target, {}, log, async (session) => {
    const state = await readDevice(session, { owner, sysctls: [] });
    return { record: state.recordText, claim: claimIn(state.claimText) };
  });
}

/** Removes the prober, the table, owned rules and routes, restores sysctls and deletes the files. */
export async function destroyLinux(
  target: LinuxTarget,
  d: LinuxDesired,
  log: Logger = silent,
  hooks: SessionHooks = {},
  claim?: ClaimIntent,
): Promise<{ writes: number; commands: number }> {
  return withSession(target, hooks, log, async (session) => {
    const state = await readDevice(session, d);
    if (claim) {
      const verdict = judgeClaim(d.owner, deviceName(target), claimIn(state.claimText), true, claim);
      if (verdict.kind === "skip") {
        log(verdict.reason);
        return { writes: 0, commands: session.stats.commands };
      }
    }
    const batch = ipBatchFor([], [], state) ?? "";
    log(
      `${target.host}: removing the prober, table ${d.nft.name}, ${state.rules.length} rule(s), ${state.routes.length} route(s)`,
    );
    await session.check("removing the owned state", script(TEARDOWN_SCRIPT), {
      input: frame({ owner: d.owner, ipbatch: batch }),
      write: true,
    });
    return { writes: session.stats.writes, commands: session.stats.commands };
  });
}

export { RemoteCommandError };
