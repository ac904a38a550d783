/**
 * Harness for engine tests: the real Pulumi CLI (scripts/ensure-pulumi.sh) driving the examples as real
 * programs, against a per-suite `file://` backend and PULUMI_HOME in a temp dir, one unique stack per flow.
 *
 * Every CLI run is asynchronous (the simulator serving the provider lives in this jest process, so the event
 * loop must keep running), has a timeout, marks its processes (the CLI starts its language host and the
 * dynamic provider in process groups of their own, so they are found by a marker in their environment and
 * ended by pid when a command is killed or leaves them behind), and records how long it took.
 *
 * When the CLI cannot be had, the engine tests fail. The one exception: outside CI, on a machine that has
 * neither `pulumi` nor Go to build it, they are skipped with a loud banner (see `engineAvailability`).
 */
import { banner } from "../skip";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "../..");
export const ENSURE_PULUMI = path.join(REPO, "scripts/ensure-pulumi.sh");
export const PULUMI_ENV = path.join(REPO, "scripts/pulumi-env.sh");

/** A cold build of the CLI from the Go module proxy takes many minutes on 2 cores (cached afterwards). */
export const ENSURE_TIMEOUT_MS = 40 * 60_000;
/** One engine command takes seconds; this only catches a hang. */
export const COMMAND_TIMEOUT_MS = 120_000;

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .some((dir) => dir && fs.existsSync(path.join(dir, cmd)));
}

/**
 * Decided synchronously at module load (jest registers tests synchronously): can the engine tests run here?
 * Only a cheap look at PATH and the cache; the (possibly long) build itself runs in beforeAll.
 */
export function engineAvailability(): { run: true } | { run: false; reason: string } {
  if (process.env.CI) return { run: true }; // CI must run them: a missing CLI fails there
  const cacheRoot =
    process.env.LBGW_CACHE_DIR ?? path.join(os.homedir(), ".cache/pulumi-loadbalanced-gateway");
  const cached = fs.existsSync(cacheRoot) && fs.readdirSync(cacheRoot).some((d) => d.startsWith("pulumi-v"));
  if (onPath("pulumi") || onPath("go") || cached) return { run: true };
  return {
    run: false,
    reason: "neither `pulumi` nor Go (to build it with scripts/ensure-pulumi.sh) is on PATH",
  };
}

/** `describe`, or `describe.skip` after a loud banner when the engine genuinely cannot be had here. */
export { banner };

export function engineDescribe(what: string): jest.Describe {
  const a = engineAvailability();
  if (a.run) return describe;
  banner([
    `SKIPPED: ${what}: engine tests need the Pulumi CLI`,
    a.reason,
    "Install Go >= 1.25.11 (scripts/ensure-pulumi.sh builds and caches the CLI) or put pulumi on PATH.",
    "CI (CI=true) never skips these: there a missing CLI fails the suite.",
  ]);
  return describe.skip;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout + stderr as printed (interleaved in arrival order). */
  output: string;
  ms: number;
  timedOut: boolean;
}

const live = new Map<ChildProcess, string>();

/** Env var that marks every process a `run` started, directly or not (plugins run in groups of their own). */
const RUN_MARKER = "LBGW_ENGINE_TEST_RUN";

function killMarked(marker: string): number[] {
  const pids = processesWithEnv(RUN_MARKER, marker);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return pids;
}

/**
 * Runs a command asynchronously with a timeout. Every process it starts carries a unique marker in its
 * environment; on timeout the command gets SIGINT (the CLI cancels and ends its plugins), 10 s later every
 * marked process gets SIGKILL; when the command ends, marked processes still running (plugins a killed CLI
 * left behind) are ended too.
 */
export function run(
  file: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; stdin?: string },
): Promise<RunResult> {
  const started = Date.now();
  const marker = `${process.pid}-${randomBytes(6).toString("hex")}`;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: { ...opts.env, [RUN_MARKER]: marker },
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    live.set(child, marker);
    let stdout = "";
    let stderr = "";
    let output = "";
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      if (done || !exit) return;
      done = true;
      timers.forEach(clearTimeout);
      live.delete(child);
      const left = killMarked(marker);
      if (left.length)
        process.stderr.write(`engine tests: ended ${left.join(", ")}, left by: ${file} ${args[0]}\n`);
      resolve({ ...exit, stdout, stderr, output, ms: Date.now() - started, timedOut });
    };
    timers.push(
      setTimeout(() => {
        timedOut = true;
        child.kill("SIGINT");
        timers.push(setTimeout(() => killMarked(marker), 10_000));
      }, opts.timeoutMs),
    );
    child.stdout!.setEncoding("utf8").on("data", (d: string) => ((stdout += d), (output += d)));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => ((stderr += d), (output += d)));
    if (child.stdin) {
      child.stdin.on("error", () => undefined); // a child that exits without reading its input: EPIPE
      child.stdin.end(opts.stdin);
    }
    child.on("error", (e) => {
      timers.forEach(clearTimeout);
      live.delete(child);
      reject(e);
    });
    // Output is complete at 'close'; a process that inherited the pipes may hold them open: 2 s at most.
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      timers.push(setTimeout(finish, 2_000));
    });
    child.on("close", finish);
  });
}

/** Ends every process that commands of this module started and that still runs (for afterAll). */
export function killAll(): void {
  for (const marker of live.values()) killMarked(marker);
  live.clear();
}

/** Pids of the processes whose environment has NAME=VALUE (Linux /proc; none elsewhere). */
export function processesWithEnv(name: string, value: string): number[] {
  if (!fs.existsSync("/proc/self/environ")) return [];
  const wanted = `${name}=${value}`;
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/environ`, "latin1").split("\0").includes(wanted);
      } catch {
        return false; // gone, or not ours to read
      }
    })
    .map(Number);
}

let ensured: Promise<{ bin: string; baseEnv: NodeJS.ProcessEnv }> | undefined;

/**
 * The bin dir of the real CLI (building and caching it on first use) and the offline environment of
 * scripts/pulumi-env.sh with that dir first on PATH. Throws, with ensure-pulumi's output, when it fails.
 */
export function ensurePulumi(): Promise<{ bin: string; baseEnv: NodeJS.ProcessEnv }> {
  ensured ??= (async () => {
    const r = await run("bash", [ENSURE_PULUMI], {
      cwd: REPO,
      env: process.env,
      timeoutMs: ENSURE_TIMEOUT_MS,
    });
    const bin = r.stdout.trim().split("\n").pop() ?? "";
    if (r.code !== 0 || !bin || !fs.existsSync(path.join(bin, "pulumi"))) {
      banner([
        "FAILED: scripts/ensure-pulumi.sh could not provide the Pulumi CLI; engine tests cannot run.",
        `exit ${r.code}${r.timedOut ? " (timed out)" : ""}; its output follows.`,
      ]);
      throw new Error(`scripts/ensure-pulumi.sh failed (exit ${r.code}):\n${r.output.slice(-4000)}`);
    }
    // One source of truth for the offline variables: source the script, read the environment back.
    const e = await run("bash", ["-c", `. "${PULUMI_ENV}" && env -0`], {
      cwd: REPO,
      env: process.env,
      timeoutMs: 30_000,
    });
    if (e.code !== 0) throw new Error(`sourcing scripts/pulumi-env.sh failed: ${e.output}`);
    const baseEnv: NodeJS.ProcessEnv = {};
    for (const kv of e.stdout.split("\0")) {
      const i = kv.indexOf("=");
      if (i > 0) baseEnv[kv.slice(0, i)] = kv.slice(i + 1);
    }
    baseEnv.PATH = `${bin}${path.delimiter}${baseEnv.PATH ?? ""}`;
    const v = await run(path.join(bin, "pulumi"), ["version"], {
      cwd: REPO,
      env: baseEnv,
      timeoutMs: 30_000,
    });
    if (v.code !== 0) throw new Error(`pulumi version failed: ${v.output}`);
    process.stderr.write(`engine tests: pulumi ${v.stdout.trim()} from ${bin}\n`);
    return { bin, baseEnv };
  })();
  return ensured;
}

/** The compiled package the examples load (dist/) must exist; `npm test` builds it via scripts/setup.sh. */
export function requireBuiltPackage(example: string): void {
  // A TypeScript program links the package; a Python or YAML one runs the plugin (plugin/, dist/plugin).
  const typescript = fs.existsSync(path.join(REPO, example, "package.json"));
  const missing = [
    path.join(REPO, "dist/sdk/index.js"),
    path.join(REPO, "dist/provider/index.js"),
    typescript
      ? path.join(REPO, example, "node_modules/pulumi-loadbalanced-gateway/package.json")
      : path.join(REPO, "dist/plugin/main.js"),
  ].filter((f) => !fs.existsSync(f));
  if (missing.length)
    throw new Error(
      `engine tests run the examples against the compiled package: missing ${missing.join(", ")}. ` +
        "Run `bash scripts/setup.sh` (npm test does) first.",
    );
  const newest = (dir: string): number =>
    fs
      .readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((d) => d.isFile() && d.name.endsWith(".ts"))
      .reduce((m, d) => Math.max(m, fs.statSync(path.join(d.parentPath, d.name)).mtimeMs), 0);
  const built = fs.statSync(path.join(REPO, "dist/provider/index.js")).mtimeMs;
  if (newest(path.join(REPO, "provider")) > built || newest(path.join(REPO, "sdk")) > built)
    process.stderr.write(
      "engine tests: WARNING: provider/ or sdk/ is newer than dist/: the engine runs dist/ " +
        "(run `npm run build` to test the current source)\n",
    );
}

export interface Step {
  stack: string;
  step: string;
  ms: number;
}

/** Timings of every engine command, for the figures printed in afterAll. */
export const timings: Step[] = [];

export function printTimings(title: string): void {
  if (!timings.length) return;
  const width = Math.max(...timings.map((t) => `${t.stack} ${t.step}`.length));
  const lines = timings.map((t) => `${`${t.stack} ${t.step}`.padEnd(width)}  ${(t.ms / 1000).toFixed(1)} s`);
  const total = timings.reduce((s, t) => s + t.ms, 0);
  process.stderr.write(
    `\n${title}: time per engine command\n  ${lines.join("\n  ")}\n  total ${(total / 1000).toFixed(1)} s\n`,
  );
}

export class PulumiError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
  }
}

/**
 * A private engine environment: one temp dir holding a `file://` backend and PULUMI_HOME.
 * `stack(dir)` gives a uniquely named stack of the Pulumi program in `dir`.
 */
export class Engine {
  readonly root: string;
  readonly backendDir: string;
  readonly home: string;
  private readonly stacks: Stack[] = [];

  private constructor(
    readonly bin: string,
    readonly env: NodeJS.ProcessEnv,
    root: string,
  ) {
    this.root = root;
    this.backendDir = path.join(root, "backend");
    this.home = path.join(root, "home");
  }

  static async create(): Promise<Engine> {
    const { bin, baseEnv } = await ensurePulumi();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "engine-test-lbgw."));
    const env: NodeJS.ProcessEnv = {
      ...baseEnv,
      PULUMI_BACKEND_URL: `file://${path.join(root, "backend")}`,
      PULUMI_HOME: path.join(root, "home"),
      PULUMI_CONFIG_PASSPHRASE: "engine-test-passphrase",
      // the display is for a pipe: no colours, no terminal width games
      NO_COLOR: "1",
      TERM: "dumb",
    };
    delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
    delete env.PULUMI_ACCESS_TOKEN;
    const engine = new Engine(bin, env, root);
    fs.mkdirSync(engine.backendDir, { recursive: true }); // `file://` needs the dir to exist
    fs.mkdirSync(engine.home, { recursive: true });
    return engine;
  }

  async stack(programDir: string, prefix: string): Promise<Stack> {
    const name = `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
    const stack = new Stack(this, programDir, name, prefix);
    this.stacks.push(stack);
    await stack.pulumi(["stack", "init", "-s", name], "stack init");
    return stack;
  }

  /**
   * Ends what is left of this engine's commands, removes the stacks' config files from the program dirs and
   * the temp dir (backend included).
   */
  async dispose(): Promise<void> {
    killAll();
    // A CLI that was killed leaves its plugins (language host, dynamic provider) running in process groups
    // of their own; they carry this engine's unique backend URL in their environment.
    for (const pid of processesWithEnv("PULUMI_BACKEND_URL", this.env.PULUMI_BACKEND_URL as string)) {
      try {
        process.kill(pid, "SIGKILL");
        process.stderr.write(`engine tests: ended pid ${pid}, left running by a pulumi command\n`);
      } catch {
        // already gone
      }
    }
    for (const s of this.stacks) fs.rmSync(s.configFile, { force: true });
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /** Every file of the backend (state, history, backups), concatenated: what is stored at rest. */
  backendText(): string {
    const dir = path.join(this.backendDir, ".pulumi");
    if (!fs.existsSync(dir)) return "";
    return fs
      .readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((d) => d.isFile())
      .map((d) => fs.readFileSync(path.join(d.parentPath, d.name), "utf8"))
      .join("\n");
  }
}

let commandCount = 0;

export class Stack {
  readonly configFile: string;

  constructor(
    readonly engine: Engine,
    readonly dir: string,
    readonly name: string,
    /** For the timings: what this stack is (the name without its unique suffix). */
    readonly label: string,
  ) {
    this.configFile = path.join(dir, `Pulumi.${name}.yaml`);
  }

  /**
   * Runs `pulumi ARGS --non-interactive` in the program dir and records its time under `step`.
   * Rejects with the full output when the exit code is not 0, unless `allowFailure`.
   */
  async pulumi(
    args: string[],
    step: string,
    opts: { allowFailure?: boolean; env?: NodeJS.ProcessEnv } = {},
  ): Promise<RunResult> {
    const r = await this.exec(args, undefined, opts.env);
    timings.push({ stack: this.label, step, ms: r.ms });
    this.keepOutput(step, args, r);
    if ((r.code !== 0 && !opts.allowFailure) || r.timedOut)
      throw new PulumiError(
        `pulumi ${args.join(" ")} ${r.timedOut ? "timed out" : `exited ${r.code}`} after ${r.ms} ms:\n${r.output}`,
        r,
      );
    return r;
  }

  /** The CLI in the program dir, never prompting, without colour codes in the output. */
  private exec(args: string[], stdin?: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return run(path.join(this.engine.bin, "pulumi"), [...args, "--non-interactive", "--color", "never"], {
      cwd: this.dir,
      env: { ...this.engine.env, ...env },
      timeoutMs: COMMAND_TIMEOUT_MS,
      stdin,
    });
  }

  /** With LBGW_ENGINE_LOG_DIR set, every command's output is kept there (one file per command). */
  private keepOutput(step: string, args: string[], r: RunResult): void {
    const dir = process.env.LBGW_ENGINE_LOG_DIR;
    if (!dir) return;
    fs.mkdirSync(dir, { recursive: true });
    const n = String(++commandCount).padStart(3, "0");
    const file = path.join(dir, `${n}-${this.name}-${step.replace(/[^A-Za-z0-9]+/g, "_")}.txt`);
    fs.writeFileSync(file, `$ pulumi ${args.join(" ")}\n# exit ${r.code}, ${r.ms} ms\n${r.output}`);
  }

  /** `pulumi config set -s STACK KEY [--secret]`; the value travels on stdin (never on a command line). */
  async setConfig(key: string, value: string, opts: { secret?: boolean } = {}): Promise<void> {
    const args = ["config", "set", "-s", this.name, key, ...(opts.secret ? ["--secret"] : [])];
    const r = await this.exec(args, value);
    if (r.code !== 0) throw new PulumiError(`pulumi ${args.join(" ")} exited ${r.code}:\n${r.output}`, r);
  }

  async setAll(config: Record<string, string | number>, secrets: Record<string, string> = {}): Promise<void> {
    for (const [k, v] of Object.entries(config)) await this.setConfig(k, String(v));
    for (const [k, v] of Object.entries(secrets)) await this.setConfig(k, v, { secret: true });
  }

  preview(extra: string[] = [], opts: { allowFailure?: boolean; step?: string } = {}): Promise<RunResult> {
    return this.pulumi(["preview", "-s", this.name, ...extra], opts.step ?? "preview", opts);
  }
  up(step = "up", extra: string[] = []): Promise<RunResult> {
    return this.pulumi(["up", "-s", this.name, "--yes", ...extra], step);
  }
  refresh(step = "refresh", extra: string[] = []): Promise<RunResult> {
    return this.pulumi(["refresh", "-s", this.name, "--yes", ...extra], step);
  }
  destroy(step = "destroy"): Promise<RunResult> {
    return this.pulumi(["destroy", "-s", this.name, "--yes"], step);
  }
  /** The stack's outputs (`pulumi stack output --json`), secrets left encrypted. */
  async outputs(): Promise<Record<string, unknown>> {
    const r = await this.pulumi(["stack", "output", "-s", this.name, "--json"], "stack output");
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }
  /** The stack's current state (`pulumi stack export`, secrets left encrypted). */
  async exportState(): Promise<string> {
    return (await this.pulumi(["stack", "export", "-s", this.name], "stack export")).stdout;
  }
}

/** Lines of the engine's output that carry the provider's progress ("lbgw: ..."), prefix stripped. */
export function progressLines(output: string): string[] {
  return output
    .split("\n")
    .map((l) => /lbgw: (.*)$/.exec(l)?.[1]?.trim())
    .filter((l): l is string => l !== undefined);
}

/** `rules` as stored: a list of lines today; a map keyed by entry is accepted too. */
export type Rules = string[] | Record<string, string>;

/** The owned objects' lines (a keyed map also holds one "(order)" entry per ordered RouterOS menu). */
export function ruleLines(rules: Rules): string[] {
  return Array.isArray(rules)
    ? rules
    : Object.entries(rules)
        .filter(([k]) => !k.endsWith(" (order)"))
        .map(([, v]) => v);
}

export interface GatewayState {
  inputs: { rules: Rules; device: string };
  outputs: { rules: Rules; device: string };
}

/** The LoadBalancedGateway's inputs and outputs in the stack's state (`pulumi stack export`). */
export async function gatewayState(stack: Stack): Promise<GatewayState> {
  const state = JSON.parse(await stack.exportState()) as {
    deployment: { resources?: Array<GatewayState & { type: string }> };
  };
  // The dynamic resource's type ends in "lbgw:LoadBalancedGateway", the plugin's is "lbgw:index:LoadBalancedGateway".
  const gw = (state.deployment.resources ?? []).filter((r) =>
    /lbgw:(index:)?LoadBalancedGateway$/.test(r.type),
  );
  if (gw.length !== 1) throw new Error(`expected one LoadBalancedGateway in the state, found ${gw.length}`);
  return gw[0];
}

/**
 * A line of a `--diff` display that shows one element of `rules` holding a rule line: `[17]: "..."` (list)
 * or `ip firewall mangle classify:1   : "..."` (map keyed by object), with or without a change marker.
 */
export function isElementLine(line: string): boolean {
  return /^\s*(?:[~+-] )?(?:\[\d+\]|[A-Za-z0-9_.:/@()# -]+?)\s*: "/.test(line);
}

/** The element lines of a `--diff` display that carry a change marker (~ changed, + added, - removed). */
export function changedElements(output: string): string[] {
  return output.split("\n").filter((l) => /^\s*[~+-] /.test(l) && isElementLine(l));
}
