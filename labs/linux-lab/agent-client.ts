/**
 * Owner side of agent.js: starts it in a namespace, sends JSON-line requests, matches answers by id.
 * The child's pipes keep the owner's event loop alive only while a request is pending, so a script that
 * forgets destroy() still exits (the process 'exit' hook then cleans up) instead of hanging.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import { childEnv, findTool } from "./proc";

export interface ConnectJob {
  from?: string;
  host: string;
  port: number;
}

/** One connection's outcome: the server's line ("<peer> <tag>") or an errno-like code. */
export interface ConnectOutcome {
  text?: string;
  error?: string;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

/** agent.js sits beside this file in the source tree; from a compiled copy, look in the source tree. */
export function agentScriptPath(): string {
  const beside = path.join(__dirname, "agent.js");
  if (fs.existsSync(beside)) return beside;
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, "labs", "linux-lab", "agent.js");
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`linux-lab: agent.js not found from ${__dirname}`);
}

export class Agent {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  private readonly exitPromise: Promise<void>;
  readonly ready: Promise<void>;
  readonly pid: number;

  constructor(
    readonly netns: string,
    private readonly label: string,
  ) {
    const ip = findTool("ip") ?? "ip";
    this.child = spawn(ip, ["netns", "exec", netns, process.execPath, agentScriptPath()], {
      env: childEnv(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    // `ip netns exec` execs the command: this PID is node's own.
    this.pid = this.child.pid ?? -1;
    let stderr = "";
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    this.child.stdin.on("error", () => {
      // closed by an exiting agent; pending requests are failed by the 'exit' handler
    });
    this.exitPromise = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exited = true;
        const err = new Error(`agent ${label} exited (${signal ?? code}) ${stderr.trim()}`.trim());
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        resolve();
      });
    });
    this.ready = new Promise((resolve, reject) => {
      this.pending.set(0, { resolve: () => resolve(), reject });
    });
    readline.createInterface({ input: this.child.stdout }).on("line", (line) => this.onLine(line));
    this.child.on("error", (e) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    });
    this.child.unref();
    this.updateRef();
  }

  private onLine(line: string): void {
    let msg: { id?: number; ok?: boolean; error?: string } & Record<string, unknown>;
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.id !== "number") return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.updateRef();
    if (msg.ok) p.resolve(msg);
    else p.reject(new Error(`agent ${this.label}: ${msg.error ?? "failed"}`));
  }

  private updateRef(): void {
    const s = this.child.stdout as unknown as { ref?: () => void; unref?: () => void };
    if (this.pending.size > 0) s.ref?.();
    else s.unref?.();
    const e = this.child.stderr as unknown as { unref?: () => void };
    e.unref?.();
  }

  request(op: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(`agent ${this.label} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.updateRef();
      this.child.stdin.write(JSON.stringify({ id, op, ...body }) + "\n");
    });
  }

  async listen(host: string, port: number, tag: string): Promise<number> {
    const r = await this.request("listen", { host, port, tag });
    return r.port as number;
  }

  async unlisten(port: number): Promise<void> {
    await this.request("unlisten", { port });
  }

  async connect(job: ConnectJob, timeoutMs: number): Promise<ConnectOutcome> {
    const r = await this.request("connect", { job, timeoutMs });
    return { text: r.text as string | undefined, error: r.error as string | undefined };
  }

  async connectMany(jobs: ConnectJob[], concurrency: number, timeoutMs: number): Promise<ConnectOutcome[]> {
    const r = await this.request("connectMany", { jobs, concurrency, timeoutMs });
    return r.results as ConnectOutcome[];
  }

  async stats(): Promise<Record<string, Record<string, number>>> {
    const r = await this.request("stats", {});
    return r.stats as Record<string, Record<string, number>>;
  }

  /** Kills the agent and waits for its exit (so no zombie outlives destroy()). */
  async stop(): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // gone
      }
    }
    await this.exitPromise;
  }

  killSync(): void {
    if (!this.exited) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // gone
      }
    }
  }
}
