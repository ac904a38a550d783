/**
 * Everything that removes a lab: the ordered teardown shared by destroy(), the process 'exit' hook and the
 * stale-lab sweeper. Every step tolerates what is already gone, so teardown is idempotent and safe on a
 * half-built lab.
 *
 * Ownership: before creating anything, a lab writes /run/lbgw/<id>.json naming its owner (PID and the
 * PID's start time, so a reused PID is not mistaken for the owner); teardown deletes it last, once the
 * namespaces are gone. The sweeper only removes labs that have a marker whose owner is gone (a namespace
 * of the lab shape without a marker was not made here, and /run/netns and /run/lbgw are both tmpfs, so a
 * reboot clears both), and only names of the lab shape (`lbgw-<id>-<role>`, `lbgw<id>m`, `lbgw_<id>_mgmt`,
 * /etc/netns/lbgw-<id>-gw): a lab of another live process, another test run, and anything else on the
 * machine are never touched.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  findTool,
  killQuietly,
  listNetns,
  pidsInNetns,
  processStartTime,
  run,
  runSync,
  waitGone,
} from "./proc";
import { LAB_ID_RE, LAB_NS_RE, LAB_PREFIX, mgmtGuardTable } from "./topology";

export const MARKER_DIR = "/run/lbgw";

export interface LabMarker {
  id: string;
  pid: number;
  startTime: number | undefined;
  createdAt: string;
  label?: string;
  dir: string;
}

export function markerPath(id: string): string {
  return path.join(MARKER_DIR, `${id}.json`);
}

export function writeMarker(m: LabMarker): void {
  fs.mkdirSync(MARKER_DIR, { recursive: true, mode: 0o755 });
  // "wx": fail if another lab (another process) already claimed this id
  fs.writeFileSync(markerPath(m.id), JSON.stringify(m) + "\n", { flag: "wx" });
}

export function readMarker(id: string): LabMarker | undefined {
  try {
    return JSON.parse(fs.readFileSync(markerPath(id), "utf8")) as LabMarker;
  } catch {
    return undefined;
  }
}

function ownerAlive(m: LabMarker): boolean {
  const st = processStartTime(m.pid);
  return st !== undefined && (m.startTime === undefined || st === m.startTime);
}

/** What teardown needs to know; derivable from the id alone (for the sweeper). */
export interface TeardownTarget {
  id: string;
  /** Temporary directory with keys, configs and logs (from the marker), if known. */
  dir?: string;
  /** PIDs the lab started itself (agents, sshd), killed first. */
  ownPids?: number[];
}

function labNamespaces(id: string): string[] {
  return listNetns().filter((n) => n.startsWith(`${LAB_PREFIX}-${id}-`) && LAB_NS_RE.test(n));
}

function rootIface(id: string): string {
  return `${LAB_PREFIX}${id}m`;
}

function etcDir(id: string): string {
  return `/etc/netns/${LAB_PREFIX}-${id}-gw`;
}

/** The marker goes last, and only once no namespace is left, so a failed teardown is swept later. */
function removeFiles(t: TeardownTarget): void {
  const files = [etcDir(t.id), t.dir];
  if (labNamespaces(t.id).length === 0) files.push(markerPath(t.id));
  for (const p of files) {
    if (!p) continue;
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

function teardownBatch(id: string, namespaces: string[]): { ipBatch: string; nft: string | undefined } {
  const lines = namespaces.map((n) => `netns del ${n}`);
  if (fs.existsSync(`/sys/class/net/${rootIface(id)}`)) lines.push(`link del dev ${rootIface(id)}`);
  return { ipBatch: lines.join("\n") + "\n", nft: `delete table netdev ${mgmtGuardTable(id)}\n` };
}

async function guardTableExists(id: string): Promise<boolean> {
  const nft = findTool("nft");
  if (!nft) return false;
  const r = await run([nft, "list", "table", "netdev", mgmtGuardTable(id)]);
  return r.code === 0;
}

/**
 * Kills every process in the lab's namespaces, deletes the namespaces (their veths go with them), the
 * root end of the management link, its guard table, /etc/netns/<gw>, the lab's directory and marker.
 * Returns the PIDs that were still alive after waiting (normally none).
 */
export async function teardown(t: TeardownTarget): Promise<number[]> {
  for (const pid of t.ownPids ?? []) killQuietly(pid);
  const namespaces = labNamespaces(t.id);
  const pids = pidsInNetns(namespaces);
  for (const pid of pids) killQuietly(pid);
  const survivors = await waitGone([...(t.ownPids ?? []), ...pids], 3000);
  const { ipBatch, nft } = teardownBatch(t.id, namespaces);
  const ip = findTool("ip") ?? "ip";
  if (ipBatch.trim()) await run([ip, "-force", "-batch", "-"], { input: ipBatch });
  if (nft && (await guardTableExists(t.id))) await run([findTool("nft") ?? "nft", "-f", "-"], { input: nft });
  removeFiles(t);
  return survivors;
}

/** Synchronous teardown for the process 'exit' hook: no waiting, best effort. */
export function teardownSync(t: TeardownTarget): void {
  for (const pid of t.ownPids ?? []) killQuietly(pid);
  const namespaces = labNamespaces(t.id);
  for (const pid of pidsInNetns(namespaces)) killQuietly(pid);
  const { ipBatch, nft } = teardownBatch(t.id, namespaces);
  if (ipBatch.trim()) runSync([findTool("ip") ?? "ip", "-force", "-batch", "-"], ipBatch);
  if (nft) runSync([findTool("nft") ?? "nft", "-f", "-"], nft);
  removeFiles(t);
}

/** Ids of labs that have an ownership marker (every lab writes one before creating anything). */
function markedIds(): string[] {
  return safeReaddir(MARKER_DIR)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .filter((id) => LAB_ID_RE.test(id));
}

/** Lab-shaped namespaces without a marker: not made by this library (or by hand); never removed. */
export function unownedLabNamespaces(): string[] {
  const marked = new Set(markedIds());
  return listNetns().filter((n) => {
    const m = LAB_NS_RE.exec(n);
    return m !== null && !marked.has(m[1]);
  });
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Removes labs left by processes that died without cleaning up (SIGKILL, a crashed runner). `keep` are the
 * ids of this process's own live labs. Returns the ids removed.
 */
export async function sweepStaleLabs(keep: ReadonlySet<string> = new Set()): Promise<string[]> {
  const removed: string[] = [];
  for (const id of markedIds()) {
    if (keep.has(id)) continue;
    const marker = readMarker(id);
    if (marker && ownerAlive(marker)) continue;
    await teardown({ id, dir: marker?.dir && isLabDir(marker.dir) ? marker.dir : undefined });
    removed.push(id);
  }
  return removed;
}

/** Only directories the lab itself creates are ever removed recursively. */
export function isLabDir(dir: string): boolean {
  return /\/lbgw-[a-z0-9]{1,8}-[A-Za-z0-9]{6}$/.test(dir);
}
