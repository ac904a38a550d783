/**
 * Process helpers for the Linux lab: resolving system tools, running argv (never a shell string) with a
 * timeout, and finding/killing the processes that live in a network namespace by scanning /proc
 * (no `ip netns pids` spawn, and usable synchronously from a process 'exit' hook).
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** Directories searched for system tools: PATH may lack the sbin directories for a non-login shell. */
const SYSTEM_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** PATH handed to every child, so `ip netns exec NS nft ...` finds nft even when the caller's PATH lacks sbin. */
export const CHILD_PATH = [
  ...new Set([...(process.env.PATH ?? "").split(":").filter(Boolean), ...SYSTEM_DIRS]),
].join(":");

export function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: CHILD_PATH, LC_ALL: "C" };
}

/** Absolute path of a tool, or undefined when it is not installed. */
export function findTool(name: string): string | undefined {
  for (const dir of CHILD_PATH.split(":")) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** Kill the child (SIGKILL) after this long; the result then has code 124 (as timeout(1)). Default 30 s. */
  timeoutMs?: number;
  /** Reject with the command, code and stderr when the exit code is not 0. */
  check?: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    super(
      `command failed (exit ${result.code}): ${argv.join(" ")}\n${result.stderr.trim() || result.stdout.trim()}`,
    );
    this.name = "CommandError";
  }
}

/** Runs argv[0] with the remaining arguments; no shell is involved. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: childEnv(), stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => {
      // the child may exit before reading its input; its exit code tells what happened
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${argv[0]}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8") + (timedOut ? `\n[killed after ${timeoutMs} ms]` : ""),
        code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
      };
      if (opts.check && result.code !== 0) reject(new CommandError(argv, result));
      else resolve(result);
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Synchronous variant for the process 'exit' hook; never throws. */
export function runSync(argv: readonly string[], input?: string): RunResult {
  try {
    const r = spawnSync(argv[0], argv.slice(1), { env: childEnv(), input: input ?? "", timeout: 10_000 });
    return { stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), code: r.status ?? 1 };
  } catch (e) {
    return { stdout: "", stderr: String(e), code: 1 };
  }
}

export const NETNS_DIR = "/run/netns";

/** Names in /run/netns (what `ip netns list` shows), without spawning anything. */
export function listNetns(): string[] {
  try {
    return fs.readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

function netnsInode(name: string): number | undefined {
  try {
    return fs.statSync(path.join(NETNS_DIR, name)).ino;
  } catch {
    return undefined;
  }
}

/** PIDs of all processes whose network namespace is the named one (as `ip netns pids`). */
export function pidsInNetns(names: readonly string[]): number[] {
  const wanted = new Set<string>();
  for (const n of names) {
    const ino = netnsInode(n);
    if (ino !== undefined) wanted.add(`net:[${ino}]`);
  }
  if (wanted.size === 0) return [];
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (wanted.has(fs.readlinkSync(`/proc/${entry}/ns/net`))) pids.push(Number(entry));
    } catch {
      // exited meanwhile, or a kernel thread
    }
  }
  return pids;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), to tell PID reuse apart. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Command line of a process as "comm: arg0 arg1 ...", or undefined when it is gone. */
export function describeProcess(pid: number): { comm: string; cmdline: string } | undefined {
  try {
    const comm = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
    return { comm, cmdline };
  } catch {
    return undefined;
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls until none of the PIDs is alive (zombies count as gone) or the deadline passes. */
export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(processAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(10);
    alive = alive.filter(processAlive);
  }
  return alive;
}
