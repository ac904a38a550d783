/**
 * What the Linux backend's lab suites (test/linux, test/faults/linux.test.ts) share: the root-only suite
 * wrapper, a spec aimed at the lab's gateway, the backend with the test seam, the gateway's sshd session
 * processes, and long-lived TCP servers and connections (socat) in the lab's namespaces. (A resource's on-box files live in the lab gateway's private tmpfs: they go with it.)
 */
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { weightedFailover, type UplinkSite } from "../../examples/linux-weighted-failover/gateway";
import { linuxBackend, type LinuxBackend } from "../../provider/linux/backend";
import type { SessionHooks } from "../../provider/linux/session";
import { buildPlan } from "../../provider/plan/plan";
import { parseSpec, type Spec, type SpecInput } from "../../provider/spec/schema";
import type { Lab } from "../../labs/linux-lab";

export { rootSuite } from "../skip";

/** The arguments of a spec besides owner and target. */
export type GatewayArgs = Omit<SpecInput, "owner" | "target">;

/** `target.linux` of the lab's gateway: root with the lab's key, its host key pinned. */
export function labTarget(lab: Lab, over: Record<string, unknown> = {}) {
  return {
    host: lab.ssh.host,
    port: lab.ssh.port,
    privateKey: lab.ssh.privateKey,
    hostKey: lab.ssh.hostKey,
    timeout: "20s",
    ...over,
  };
}

/** A checked spec for the lab's gateway (throws with the failures if `args` are invalid). */
export function labSpec(lab: Lab, owner: string, args: GatewayArgs): Spec {
  const r = parseSpec({ owner, target: { linux: labTarget(lab) }, ...args });
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  return r.spec;
}

/** examples/linux-weighted-failover's arguments on the lab's uplinks 1 and 2 (3:1 unless `weights`). */
export function exampleArgs(
  lab: Lab,
  opts: { weights?: [number, number]; sticky?: false | { timeout: string } } = {},
): GatewayArgs {
  const a = lab.addresses;
  return weightedFailover({
    lanInterface: a.lanIface,
    lanNetwork: a.lanNet,
    uplinks: [0, 1].map((i) => ({
      interface: a.uplinks[i].iface,
      gateway: a.uplinks[i].gateway,
      probeTarget: a.uplinks[i].probeTarget,
    })) as [UplinkSite, UplinkSite],
    sticky: opts.sticky ?? false,
    weights: opts.weights,
  });
}

/** The backend of a spec, with the session's test seam. */
export const labBackend = (spec: Spec, hooks: SessionHooks = {}): Promise<LinuxBackend> =>
  linuxBackend(spec, buildPlan(spec), { hooks });

/** PIDs of the gateway's per-connection sshd processes ("sshd: root@notty", "[priv]"), never the listener. */
export function sshdSessionPids(lab: Lab): number[] {
  return lab.processes().filter((pid) => {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return /^sshd: /.test(cmd) && !/\[listener\]/.test(cmd);
    } catch {
      return false;
    }
  });
}

/** SIGKILL each pid that still exists; returns the ones signalled. */
export function killAll(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, "SIGKILL");
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * A TCP server (socat) on `port` in network namespace `netns`, serving each connection with the socat
 * address `handler` (e.g. "EXEC:cat"); resolves once it listens. The caller kills it.
 */
export async function tcpServer(
  netns: string,
  port: number,
  handler: string,
  bind?: string,
): Promise<ChildProcess> {
  const listen = `TCP-LISTEN:${port},fork,reuseaddr${bind ? `,bind=${bind}` : ""}`;
  const server = spawn("ip", ["netns", "exec", netns, "socat", listen, handler], { stdio: "ignore" });
  const started = Date.now();
  const listening = () =>
    spawnSync("ip", ["netns", "exec", netns, "ss", "-Hltn", `sport = :${port}`], {
      encoding: "utf8",
    }).stdout.trim() !== "";
  while (!listening()) {
    if (server.exitCode !== null || Date.now() - started > 5000) {
      server.kill("SIGKILL");
      throw new Error(`socat ${listen} in ${netns} did not listen`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return server;
}

/** A TCP connection (socat) from address `from` in `netns` to `to`:`port`: its stdin and stdout. */
export const tcpConnection = (
  netns: string,
  from: string,
  to: string,
  port: number,
): ChildProcessWithoutNullStreams =>
  spawn("ip", ["netns", "exec", netns, "socat", "-", `TCP:${to}:${port},bind=${from}`]);

/** A TCP stream through the gateway that echoes a numbered line every 20 ms and times each answer. */
export class Stream {
  private readonly sent = new Map<number, number>();
  private seq = 0;
  private buf = "";
  private timer: NodeJS.Timeout | undefined;
  worstMs = 0;
  closed = false;
  answered = 0;

  /**
   * A stream from the lab's first LAN client to an echo server (socat) in its internet namespace on `port`,
   * answering before it resolves. `stop()` ends the server too.
   */
  static async through(lab: Lab, port: number): Promise<Stream> {
    const a = lab.addresses;
    const server = await tcpServer(lab.ns.inet, port, "EXEC:cat", a.server);
    const stream = new Stream(tcpConnection(lab.ns.lan, a.clients[0], a.server, port), [server]);
    await new Promise((r) => setTimeout(r, 500));
    if (stream.answered <= 5) {
      stream.stop();
      throw new Error(`the echo stream on port ${port} got ${stream.answered} answers in 500 ms`);
    }
    stream.worstSinceLast();
    return stream;
  }

  constructor(
    private readonly proc: ChildProcessWithoutNullStreams,
    private readonly helpers: ChildProcess[] = [],
  ) {
    proc.stdout.on("data", (d: Buffer) => {
      this.buf += d.toString();
      const lines = this.buf.split("\n");
      this.buf = lines.pop() as string;
      for (const l of lines) {
        const at = this.sent.get(Number(l));
        if (at === undefined) continue;
        this.sent.delete(Number(l));
        this.answered++;
        this.worstMs = Math.max(this.worstMs, Date.now() - at);
      }
    });
    proc.on("exit", () => (this.closed = true));
    this.timer = setInterval(() => {
      if (this.closed) return;
      this.sent.set(++this.seq, Date.now());
      proc.stdin.write(`${this.seq}\n`);
    }, 20);
  }

  /** The worst echo time since the last call, counting lines still unanswered. */
  worstSinceLast(): number {
    const now = Date.now();
    const pending = [...this.sent.values()].map((t) => now - t);
    const worst = Math.max(this.worstMs, ...pending.filter((ms) => ms > 100));
    this.worstMs = 0;
    return worst;
  }

  stop(): void {
    clearInterval(this.timer);
    for (const p of [this.proc, ...this.helpers]) p.kill("SIGKILL");
  }
}

/**
 * Gives the lab gateway's management address a name in /etc/hosts (the provider resolves it as any DNS
 * name), for a test that respells the target; returns the function that removes it again.
 */
export function hostsName(lab: Lab, label: string): { name: string; remove: () => void } {
  const hosts = "/etc/hosts";
  const name = `lbgw-lab-${lab.id}.test`;
  const marker = `# lbgw ${label} ${lab.id}`;
  fs.appendFileSync(hosts, `${lab.ssh.host} ${name} ${marker}\n`);
  const remove = () =>
    fs.writeFileSync(
      hosts,
      fs
        .readFileSync(hosts, "utf8")
        .split("\n")
        .filter((l) => !l.includes(marker))
        .join("\n"),
    );
  return { name, remove };
}

/** The stack config (and secrets) examples/linux-weighted-failover reads, aimed at the lab's uplinks 1 and 2. */
export function exampleConfig(lab: Lab): {
  config: Record<string, string | number>;
  secrets: Record<string, string>;
} {
  const a = lab.addresses;
  const links = Object.fromEntries(
    [0, 1].flatMap((i) => [
      [`link${i + 1}Interface`, a.uplinks[i].iface],
      [`link${i + 1}Gateway`, a.uplinks[i].gateway],
      [`link${i + 1}ProbeTarget`, a.uplinks[i].probeTarget],
    ]),
  );
  return {
    config: {
      gatewayHost: lab.ssh.host,
      gatewayPort: lab.ssh.port,
      gatewayUser: "root",
      gatewayHostKey: lab.ssh.hostKey,
      lanInterface: a.lanIface,
      lanNetwork: a.lanNet,
      ...links,
    },
    secrets: { privateKey: lab.ssh.privateKey },
  };
}

/**
 * Retransmitted segments of the TCP connection on `port` between the lab's LAN and inet namespaces, at both
 * ends (`ss -ti`); -1 when the connection is not there (the count would prove nothing).
 */
export async function streamRetransmissions(lab: Lab, port: number): Promise<number> {
  let total = 0;
  for (const ns of ["lan", "inet"]) {
    const out = (
      await lab.exec(ns, ["ss", "-tin", "state", "established", `( sport = :${port} or dport = :${port} )`])
    ).stdout;
    if (!out.includes(`:${port}`)) return -1;
    for (const m of out.matchAll(/retrans:\d+\/(\d+)/g)) total += Number(m[1]);
  }
  return total;
}

/** Polls `ok` every 50 ms until it holds (resolves to the time that took) or `limitMs` passes (throws). */
export async function waitFor(what: string, ok: () => Promise<boolean>, limitMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    if (await ok()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The prober's state file on the lab gateway: one line per link. */
export const proberState = async (lab: Lab, owner: string): Promise<string> =>
  (await lab.exec("gw", ["cat", `/run/lbgw/${owner}/state`])).stdout;
