/**
 * The real Pulumi CLI, driven the way a user would drive it, against a private `file://` backend.
 *
 * Everything of one demo run lives in one temporary directory (/tmp/lbgw-demo-XXXXXX: the backend, a
 * PULUMI_HOME, an ownership file); the only file outside it is the stack's config file
 * (`Pulumi.<stack>.yaml`, gitignored) in the example's directory. Both go at the end, also after an error or
 * Ctrl-C; a run that was killed outright (SIGKILL) is swept by the next run (`sweepStaleRuns`).
 *
 * Each CLI command runs in its own process group (so the terminal's Ctrl-C reaches the demo, not the CLI
 * in the middle of an update), streams its output under the current step, and has a timeout.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Cleanup } from "./cleanup";
import { dim, note, step, subOutput } from "./ui";

export const REPO = path.resolve(__dirname, "..");
const RUN_PREFIX = "lbgw-demo-";
const BINARIES = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];

export class PulumiError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
    this.name = "PulumiError";
  }
}

function which(cmd: string, pathVar = process.env.PATH ?? ""): string | undefined {
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The directory holding the three Pulumi binaries: on PATH already (scripts/demo.sh puts them there), else
 * whatever scripts/ensure-pulumi.sh provides (it builds and caches them on first use).
 */
export function pulumiBinDir(): string {
  if (BINARIES.every((b) => which(b))) return path.dirname(which("pulumi") as string);
  step("Pulumi CLI not on PATH: scripts/ensure-pulumi.sh (a first build takes many minutes)");
  const r = spawnSync("bash", [path.join(REPO, "scripts/ensure-pulumi.sh")], {
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  const bin = r.stdout?.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !bin || !fs.existsSync(path.join(bin, "pulumi")))
    throw new Error(`scripts/ensure-pulumi.sh failed (exit ${r.status})`);
  return bin;
}

// --- ownership of a run, and the sweep of runs that were killed ------------------------------------------

interface Owner {
  pid: number;
  startTime: string;
  /** Stack config files this run wrote into example directories. */
  configFiles: string[];
}

function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** PIDs whose environment names this backend: CLI commands (and their plugins) of a killed run. */
function processesOfBackend(backendUrl: string): number[] {
  const needle = Buffer.from(`PULUMI_BACKEND_URL=${backendUrl}\0`);
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/environ`).includes(needle)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/**
 * Removes what earlier runs left when they were killed outright: their temporary directory, their stack
 * config files, CLI processes still running against their backend. Only runs whose owner is gone.
 */
export function sweepStaleRuns(): string[] {
  const swept: string[] = [];
  const tmp = os.tmpdir();
  for (const name of fs.readdirSync(tmp)) {
    if (!name.startsWith(RUN_PREFIX)) continue;
    const dir = path.join(tmp, name);
    let owner: Owner;
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, "owner.json"), "utf8")) as Owner;
    } catch {
      continue; // not a demo run dir (or one that is being created right now)
    }
    if (processStartTime(owner.pid) === owner.startTime) continue; // alive
    for (const pid of processesOfBackend(`file://${path.join(dir, "backend")}`)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const f of owner.configFiles) {
      if (path.basename(f).startsWith(`Pulumi.${RUN_PREFIX}`)) fs.rmSync(f, { force: true });
    }
    fs.rmSync(dir, { recursive: true, force: true });
    swept.push(dir);
  }
  return swept;
}

// --- CLI commands ------------------------------------------------------------------------------------------

const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Ends every CLI command still running (its whole process group: language host, provider plugin); resolves
 * with how many there were.
 */
export async function killAllCommands(graceMs = 10_000): Promise<number> {
  const children = [...live];
  // SIGTERM: the CLI cancels, waits for the provider's operation in flight and saves the state (a second
  // SIGTERM, e.g. from a second Ctrl-C, makes it stop at once)
  for (const c of children) killGroup(c, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  for (const c of children) killGroup(c, "SIGKILL");
  live.clear();
  return children.length;
}

export interface RunResult {
  code: number | null;
  output: string;
  ms: number;
}

/**
 * Shows the CLI's output under the current step, without what tells a newcomer nothing (or twice): blank
 * lines, table headers, the `@ updating....` ticker, and in the Diagnostics section the provider's progress
 * lines already shown as they happened (errors and anything new there are kept).
 */
class OutputFilter {
  private readonly seen = new Set<string>();
  private diagnostics: string[] | undefined;

  constructor(private readonly show: (line: string) => void) {}

  private static boring(line: string): boolean {
    return (
      line.trim() === "" ||
      /^\s*(View Live|Type\s+Name\s+(Status|Plan))/.test(line) ||
      /^\s*@ (updating|destroying|previewing)/.test(line) ||
      /have been deleted, but the history and configuration|If you want to remove the stack completely/.test(
        line,
      )
    );
  }

  push(raw: string): void {
    const line = raw.replace(/\s+$/, "");
    if (this.diagnostics) {
      if (/^\S/.test(line)) this.flushDiagnostics();
      else {
        this.diagnostics.push(line);
        return;
      }
    }
    if (line === "Diagnostics:") {
      this.diagnostics = [];
      return;
    }
    if (OutputFilter.boring(line)) return;
    const progress = /(lbgw: .*)$/.exec(line);
    if (progress) this.seen.add(progress[1].trim());
    this.show(line);
  }

  private flushDiagnostics(): void {
    const lines = (this.diagnostics ?? []).filter((l) => l.trim() && !this.seen.has(l.trim()));
    this.diagnostics = undefined;
    // what is left besides the per-resource headers ("  pulumi:pulumi:Stack (name):")
    if (lines.some((l) => !/^ {2}\S.*\):$/.test(l))) {
      this.show("Diagnostics:");
      for (const l of lines) this.show(l);
    }
  }

  end(): void {
    if (this.diagnostics) this.flushDiagnostics();
  }
}

export class Engine {
  readonly backendDir: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly owner: Owner;

  private constructor(
    readonly bin: string,
    readonly root: string,
  ) {
    this.backendDir = path.join(root, "backend");
    const home = path.join(root, "home");
    fs.mkdirSync(this.backendDir, { recursive: true }); // a file:// backend needs its dir
    fs.mkdirSync(home, { recursive: true });
    this.env = {
      ...process.env,
      PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`,
      PULUMI_BACKEND_URL: `file://${this.backendDir}`,
      PULUMI_HOME: home,
      // the state is thrown away with this directory: a random passphrase per run is enough
      PULUMI_CONFIG_PASSPHRASE: randomBytes(12).toString("hex"),
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
      NO_COLOR: "1",
      TERM: "dumb",
    };
    delete this.env.PULUMI_CONFIG_PASSPHRASE_FILE;
    delete this.env.PULUMI_ACCESS_TOKEN;
    this.owner = { pid: process.pid, startTime: processStartTime(process.pid) ?? "", configFiles: [] };
    this.saveOwner();
  }

  /** A private backend and PULUMI_HOME in a new temporary directory, removed by the cleanup. */
  static create(bin: string, cleanup: Cleanup): Engine {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), RUN_PREFIX));
    const engine = new Engine(bin, root);
    cleanup.onForce(() => void killAllCommands(500));
    cleanup.add(`remove the temporary directory ${root} (backend, PULUMI_HOME)`, async (hard) => {
      if (hard) await killAllCommands();
      fs.rmSync(root, { recursive: true, force: true });
    });
    return engine;
  }

  private saveOwner(): void {
    fs.writeFileSync(path.join(this.root, "owner.json"), JSON.stringify(this.owner));
  }

  /** A new stack of the program in `dir` with a unique name; its config file is removed by the cleanup. */
  async stack(dir: string, cleanup: Cleanup): Promise<Stack> {
    const name = `${RUN_PREFIX}${randomBytes(3).toString("hex")}`;
    const stack = new Stack(this, dir, name);
    this.owner.configFiles.push(stack.configFile);
    this.saveOwner();
    stack.untrack = cleanup.add(`stack ${name} (its resources, state and config file)`, async (hard) => {
      try {
        if (hard) {
          // after Ctrl-C: stop a running CLI command (SIGTERM: it cancels and saves its state), then destroy
          // what the stack holds; if that cannot be done (state locked, target gone, a second Ctrl-C), what is
          // left goes with the lab/simulator and the state with the backend
          await killAllCommands();
          if (!cleanup.forced && (await stack.resourceCount().catch(() => 0)) > 0) {
            note("pulumi destroy before the lab/simulator goes (Ctrl-C again to skip it)");
            try {
              await stack.destroy(60_000);
              await stack.remove();
              return;
            } catch (e) {
              note(`pulumi destroy did not finish: ${(e as Error).message}`);
            }
          }
          note("no pulumi destroy: what it set up goes with the lab/simulator, its state with the backend");
        } else {
          await killAllCommands();
          if ((await stack.resourceCount()) > 0) await stack.destroy();
          await stack.remove();
        }
      } finally {
        fs.rmSync(stack.configFile, { force: true });
      }
    });
    const untrack = stack.untrack;
    stack.untrack = () => {
      untrack();
      fs.rmSync(stack.configFile, { force: true });
    };
    await stack.run(["stack", "init", "-s", name], { quiet: true });
    return stack;
  }

  async version(): Promise<string> {
    const r = await run(path.join(this.bin, "pulumi"), ["version"], {
      cwd: REPO,
      env: this.env,
      timeoutMs: 30_000,
    });
    return r.output.trim();
  }
}

function run(
  file: string,
  args: string[],
  opts: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    timeoutMs: number;
    stdin?: string;
    onLine?: (line: string) => void;
  },
): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: "pipe" });
    live.add(child);
    let output = "";
    let partial = "";
    const onData = (d: string) => {
      output += d;
      if (!opts.onLine) return;
      partial += d;
      const lines = partial.split(/\r?\n/);
      partial = lines.pop() ?? "";
      for (const l of lines) opts.onLine(l);
    };
    const timer = setTimeout(() => {
      output += `\n(timed out after ${opts.timeoutMs} ms)\n`;
      killGroup(child, "SIGTERM");
      setTimeout(() => killGroup(child, "SIGKILL"), 3000).unref();
    }, opts.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.stdin.end(opts.stdin ?? "");
    child.on("error", (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      live.delete(child);
      if (partial && opts.onLine) opts.onLine(partial);
      killGroup(child, "SIGKILL"); // plugins the CLI left behind, if any
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

export class Stack {
  readonly configFile: string;
  /** Removes the stack's cleanup step, and its config file (after a complete destroy and `stack rm`). */
  untrack: () => void = () => undefined;

  constructor(
    readonly engine: Engine,
    readonly dir: string,
    readonly name: string,
  ) {
    this.configFile = path.join(dir, `Pulumi.${name}.yaml`);
  }

  /** `pulumi ARGS --non-interactive` in the program's directory; rejects unless it exits 0. */
  async run(
    args: string[],
    opts: { stdin?: string; quiet?: boolean; timeoutMs?: number; allowFailure?: boolean } = {},
  ): Promise<RunResult> {
    const full = [...args, "--non-interactive", "--color", "never"];
    const filter = opts.quiet ? undefined : new OutputFilter(subOutput);
    const r = await run(path.join(this.engine.bin, "pulumi"), full, {
      cwd: this.dir,
      env: this.engine.env,
      timeoutMs: opts.timeoutMs ?? 180_000,
      stdin: opts.stdin,
      onLine: filter ? (l) => filter.push(l) : undefined,
    });
    filter?.end();
    if (r.code !== 0 && !opts.allowFailure) {
      if (opts.quiet) for (const l of r.output.split("\n").slice(-30)) subOutput(l);
      const what = args.filter((a) => !a.startsWith("-") && a !== this.name).slice(0, 2);
      throw new PulumiError(
        `pulumi ${what.join(" ")} ${r.code === null ? "was stopped" : `exited ${r.code}`}${r.output.includes("(timed out after") ? " (timed out)" : ""}`,
        r.output,
      );
    }
    return r;
  }

  /** Plain values in one `config set-all`; each secret through stdin (never on a command line). */
  async configure(plain: Record<string, string | number | boolean>, secrets: Record<string, string>) {
    const pairs = Object.entries(plain).flatMap(([k, v]) => ["--plaintext", `${k}=${v}`]);
    if (pairs.length) await this.run(["config", "set-all", "-s", this.name, ...pairs], { quiet: true });
    for (const [k, v] of Object.entries(secrets))
      await this.run(["config", "set", "-s", this.name, k, "--secret"], { stdin: v, quiet: true });
    const shown = Object.entries(plain).map(([k, v]) => {
      const text = String(v);
      return `${k}=${text.length > 32 ? `${text.slice(0, 28)}…` : text}`;
    });
    if (Object.keys(secrets).length) shown.push(`secret: ${Object.keys(secrets).join(", ")}`);
    // wrapped at ~100 columns
    const lines: string[] = [];
    for (const item of shown) {
      const last = lines.length - 1;
      if (last >= 0 && lines[last].length + item.length < 96) lines[last] += `  ${item}`;
      else lines.push(item);
    }
    note(`config (pulumi config set-all / set --secret):\n${lines.map((l) => `  ${l}`).join("\n")}`);
  }

  up(): Promise<RunResult> {
    step(`${dim("$")} pulumi up -s ${this.name} --yes ${dim(`(in ${path.relative(REPO, this.dir)})`)}`);
    return this.run(["up", "-s", this.name, "--yes", "--skip-preview"]);
  }

  destroy(timeoutMs?: number): Promise<RunResult> {
    step(`${dim("$")} pulumi destroy -s ${this.name} --yes`);
    return this.run(["destroy", "-s", this.name, "--yes", "--skip-preview"], { timeoutMs });
  }

  async outputs(): Promise<Record<string, unknown>> {
    const r = await this.run(["stack", "output", "-s", this.name, "--json"], { quiet: true });
    return JSON.parse(r.output) as Record<string, unknown>;
  }

  /** Resources in the stack's state (0 after a complete destroy). */
  async resourceCount(): Promise<number> {
    const r = await this.run(["stack", "export", "-s", this.name], { quiet: true });
    const state = JSON.parse(r.output) as { deployment?: { resources?: unknown[] } };
    return state.deployment?.resources?.length ?? 0;
  }

  /** `pulumi stack rm` (refuses while resources remain; the cleanup then removes the backend anyway). */
  async remove(): Promise<void> {
    const r = await this.run(["stack", "rm", "-s", this.name, "--yes"], { quiet: true, allowFailure: true });
    if (r.code === 0) step(`${dim("$")} pulumi stack rm -s ${this.name} --yes`);
    else note(`pulumi stack rm refused (resources left?): the temporary backend goes with the run anyway`);
  }
}
