/**
 * Linux gateway lab: a real gateway topology in network namespaces, for the Linux backend's integration
 * tests, the demo and the benchmarks. See README.md beside this file for the topology, the gateway's
 * initial state and the gotchas a gateway configuration has to handle.
 *
 *   const lab = await createLab({ uplinks: 2 });
 *   try { ...lab.ssh..., await lab.connect(lab.addresses.clients[0]) } finally { await lab.destroy(); }
 *
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces and mounts). Traffic stays inside the lab's own
 * namespaces: the root namespace reaches only the gateway's management /30.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Agent, type ConnectJob, type ConnectOutcome } from "./agent-client";
import {
  isLabDir,
  readMarker,
  sweepStaleLabs as sweep,
  teardown,
  teardownSync,
  writeMarker,
  type TeardownTarget,
} from "./cleanup";
import {
  childEnv,
  describeProcess,
  findTool,
  listNetns,
  pidsInNetns,
  processStartTime,
  run,
  type RunOptions,
  type RunResult,
} from "./proc";
import { generateKeys, sshdConfig, startSshd, writeAccounts, type SudoMode } from "./ssh-setup";
import {
  type UplinkPlan,
  DEFAULT_CLIENTS,
  DEFAULT_UPLINKS,
  LAB_ID_RE,
  LAB_PREFIX,
  allNamespaces,
  gwBatch,
  inetBatch,
  ispBatch,
  ispUpstreamFailBatch,
  ispUpstreamRestoreBatch,
  lanBatch,
  mgmtGuardRuleset,
  planLab,
  rootLinkBatch,
  sysctlsFor,
  validateCounts,
  type GatewayInitialState,
  type LabPlan,
  type Role,
} from "./topology";

export { CommandError, type RunResult } from "./proc";
export type { GatewayInitialState, RpFilter } from "./topology";
export { MAX_CLIENTS, MAX_UPLINKS, MIN_UPLINKS } from "./topology";
export type { SudoMode } from "./ssh-setup";

/** Tools the lab runs (and the Debian packages scripts/lab-deps.sh installs for them). */
const REQUIRED_TOOLS = ["ip", "nft", "sshd", "ssh-keygen", "openssl", "sysctl", "ping", "conntrack", "sudo"];

export function labSupported(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== "linux") return { ok: false, reason: `needs Linux, this is ${process.platform}` };
  if (process.getuid?.() !== 0)
    return { ok: false, reason: "needs root (network namespaces, veths, nftables)" };
  if (!fs.existsSync("/proc/self/ns/net")) return { ok: false, reason: "kernel without network namespaces" };
  const missing = REQUIRED_TOOLS.filter((t) => !findTool(t));
  if (missing.length)
    return { ok: false, reason: `missing tools: ${missing.join(", ")} (run ensureLabDeps())` };
  return { ok: true };
}

/** A file of the repository, looked for above this module (source or dist/ copy), then above the cwd. */
function findUp(rel: string): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const candidate = path.join(dir, rel);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  throw new Error(`linux-lab: ${rel} not found above ${__dirname} or ${process.cwd()}`);
}

let depsPromise: Promise<void> | undefined;

/** Installs missing Debian packages through scripts/lab-deps.sh (progress on stderr). Idempotent. */
export function ensureLabDeps(): Promise<void> {
  depsPromise ??= (async () => {
    if (REQUIRED_TOOLS.every((t) => findTool(t))) return;
    const script = findUp(path.join("scripts", "lab-deps.sh"));
    await new Promise<void>((resolve, reject) => {
      const child = spawn("bash", [script], { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
      const forward = (d: Buffer) => process.stderr.write(d);
      child.stdout.on("data", forward);
      child.stderr.on("data", forward);
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited ${code}`))));
    });
    const missing = REQUIRED_TOOLS.filter((t) => !findTool(t));
    if (missing.length) throw new Error(`linux-lab: still missing after install: ${missing.join(", ")}`);
  })();
  depsPromise.catch(() => (depsPromise = undefined));
  return depsPromise;
}

export interface LabOptions {
  /** Number of uplinks/ISPs, 2..16. Default 2. */
  uplinks?: number;
  /** Number of LAN client addresses (192.168.0.10 upwards), 1..240. Default 8. */
  clients?: number;
  /** Lab id instead of 6 random hex digits: 1..8 of [a-z0-9]. Namespaces are `lbgw-<name>-<role>`. */
  name?: string;
  /** Free text recorded in the ownership marker (e.g. the test file). */
  label?: string;
  /** The gateway's state before the provider runs. Default: forwarding on, rp_filter 2, no default route. */
  gateway?: GatewayInitialState;
  /** sshd port on the gateway's management address. Default 22. */
  sshPort?: number;
  /** Port of the inet server. Default 80. */
  serverPort?: number;
  /** How the non-root test user may use sudo. Default "nopasswd". */
  sudo?: SudoMode;
}

export type NsRole = "lan" | "gw" | "inet" | `isp${number}`;

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** OpenSSH private key (ed25519, unencrypted), accepted by every account of the lab. */
  privateKey: string;
  privateKeyPath: string;
  /** The client key's public half, "ssh-ed25519 AAAA...". */
  publicKey: string;
  /** The gateway's host key, "ssh-ed25519 AAAA..." (no comment). */
  hostKey: string;
  /** "SHA256:..." of the host key, as `ssh-keygen -lf` and OpenSSH clients print it. */
  hostKeySha256: string;
  /** Raw host key blob: what ssh2's `hostVerifier` receives, for `key.equals(hostKeyBlob)`. */
  hostKeyBlob: Buffer;
  /** known_hosts line for OpenSSH clients. */
  knownHostsLine: string;
  password: string;
}

/** An uplink as the lab's users see it: its plan without the ISP's transit link to inet. */
export type UplinkAddresses = Omit<UplinkPlan, "transitIsp" | "transitInet">;

export interface LabAddresses {
  lanNet: string;
  lanGw: string;
  lanIface: string;
  clients: string[];
  uplinks: UplinkAddresses[];
  server: string;
  serverPort: number;
  inetClient: string;
  mgmt: { net: string; root: string; gw: string; gwIface: string; rootIface: string };
}

export interface ConnectOptions {
  /** Destination; default the inet server. */
  to?: string;
  /** Default the server port. */
  port?: number;
  /** Per connection. Default 3000 ms. */
  timeoutMs?: number;
}

export interface ConnectManyOptions extends ConnectOptions {
  /** Connections in flight at once. Default 32. */
  concurrency?: number;
  /** Round-robin the plan's clients (a1 b1 a2 b2 ...) instead of listing each client's in a row. Default true. */
  interleave?: boolean;
  /** Return failed connections (seenAs "" and error) instead of rejecting. Default false. */
  allowErrors?: boolean;
}

export interface ConnectResult {
  from: string;
  seenAs: string;
  error?: string;
}

export type InboundResult = { ok: true; seenAs: string; by: string } | { ok: false; error: string };

export interface Listener {
  ns: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export interface GatewaySnapshot {
  nft: string;
  ipRule: string;
  routes: string;
  /** Processes in the gateway namespace other than sshd and the lab's own agents, sorted. */
  processes: string;
  /** ip_forward, rp_filter, src_valid_mark, forwarding of all/default/each interface. */
  sysctls: string;
}

export class LabConnectError extends Error {
  constructor(
    readonly from: string,
    readonly to: string,
    readonly code: string,
  ) {
    super(`connection ${from} -> ${to} failed: ${code}`);
    this.name = "LabConnectError";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Registry of live labs, for the process 'exit' hook and to keep the sweeper off this process's labs.
// (Under jest, `process` is a per-file copy whose 'exit' never fires: there afterAll(destroy) and the
// sweeper of the next run do the work.)

const live = new Map<string, Lab>();
let exitHookInstalled = false;

function destroyAllSync(): void {
  for (const lab of live.values()) lab.destroySync();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", destroyAllSync);
  // Ctrl-C / kill of a plain script (demo, benchmark): clean up, then die of the same signal. Only where
  // nobody else handles the signal, so a program with its own handlers keeps its behaviour.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    if (process.listenerCount(sig) > 0) continue;
    const onSignal = () => {
      destroyAllSync();
      process.removeListener(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Removes labs whose owning process is gone. createLab() runs it; exported for CI setup and manual use. */
export function sweepStaleLabs(): Promise<string[]> {
  return sweep(new Set(live.keys()));
}

function randomId(): string {
  for (;;) {
    const id = randomBytes(3).toString("hex");
    if (!listNetns().some((n) => n.startsWith(`${LAB_PREFIX}-${id}-`)) && !readMarker(id)) return id;
  }
}

async function pickMgmtBlock(): Promise<{ a: number; b: number }> {
  const ip = findTool("ip") ?? "ip";
  const r = await run([ip, "-4", "-o", "addr", "show"], { check: true });
  const used = new Set<string>();
  for (const m of r.stdout.matchAll(/inet 169\.254\.(\d+)\.(\d+)/g)) {
    used.add(`${m[1]}.${Math.floor(Number(m[2]) / 4)}`);
  }
  for (;;) {
    const a = 1 + (randomBytes(1)[0] % 254);
    const b = randomBytes(1)[0] % 64;
    if (a !== 169 && !used.has(`${a}.${b}`)) return { a, b };
  }
}

export async function createLab(opts: LabOptions = {}): Promise<Lab> {
  const uplinks = opts.uplinks ?? DEFAULT_UPLINKS;
  const clients = opts.clients ?? DEFAULT_CLIENTS;
  validateCounts(uplinks, clients);
  if (opts.name !== undefined && !LAB_ID_RE.test(opts.name)) {
    throw new RangeError(`lab name must match ${LAB_ID_RE}, got ${JSON.stringify(opts.name)}`);
  }
  if (opts.gateway?.defaultRoute !== undefined) {
    const k = opts.gateway.defaultRoute;
    if (!Number.isInteger(k) || k < 1 || k > uplinks)
      throw new RangeError(`gateway.defaultRoute ${k} out of range`);
  }
  const supported = labSupported();
  if (!supported.ok) throw new Error(`linux lab not supported: ${supported.reason}`);

  const started = Date.now();
  await sweepStaleLabs();
  const id = opts.name ?? randomId();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${LAB_PREFIX}-${id}-`));
  // traversable (not listable) so the non-root test user reaches its home and authorized_keys inside
  fs.chmodSync(dir, 0o711);
  try {
    writeMarker({
      id,
      pid: process.pid,
      startTime: processStartTime(process.pid),
      createdAt: new Date().toISOString(),
      label: opts.label,
      dir,
    });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new Error(`a lab named ${id} already exists`);
    throw e;
  }
  const lab = new Lab(id, dir);
  live.set(id, lab);
  installExitHook();
  try {
    await lab.build(uplinks, clients, opts);
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  lab.timings.createMs = Date.now() - started;
  return lab;
}

// ---------------------------------------------------------------------------------------------------------

export class Lab {
  name: string;
  ns!: { lan: string; gw: string; isps: string[]; inet: string };
  ssh!: SshTarget;
  /** A non-root account with sudo (as LabOptions.sudo says), same client key, own password. */
  sudoUser!: SshTarget & { sudo: SudoMode };
  addresses!: LabAddresses;
  /** Wall-clock figures of this lab's life, in ms. */
  readonly timings: { createMs?: number; destroyMs?: number } = {};
  /** The initial gateway state the lab was built with (defaults filled in). */
  gatewayInitial!: Required<Pick<GatewayInitialState, "forwarding" | "rpFilter" | "srcValidMark">> &
    GatewayInitialState;

  private plan!: LabPlan;
  private readonly agents = new Map<string, Promise<Agent>>();
  /** Every agent started, ready or not, so teardown can kill it. */
  private readonly agentsStarted: Agent[] = [];
  private sshd: ChildProcess | undefined;
  private serverStarted: Promise<void> | undefined;
  private destroyed: Promise<void> | undefined;
  private readonly ip = findTool("ip") ?? "ip";

  /** @internal use createLab() */
  constructor(
    readonly id: string,
    private readonly dir: string,
  ) {
    this.name = `${LAB_PREFIX}-${id}`;
  }

  /** @internal */
  async build(uplinks: number, clients: number, opts: LabOptions): Promise<void> {
    const gw: GatewayInitialState = { forwarding: true, rpFilter: 2, srcValidMark: false, ...opts.gateway };
    this.gatewayInitial = gw as Lab["gatewayInitial"];
    const plan = planLab({
      id: this.id,
      uplinks,
      clients,
      mgmtBlock: await pickMgmtBlock(),
      serverPort: opts.serverPort ?? 80,
      sshPort: opts.sshPort ?? 22,
    });
    this.plan = plan;
    this.ns = plan.ns;
    this.addresses = {
      lanNet: plan.lan.net,
      lanGw: plan.lan.gw,
      lanIface: plan.lan.gwIface,
      clients: plan.lan.clients,
      uplinks: plan.uplinks.map((u) => ({
        index: u.index,
        iface: u.iface,
        address: u.address,
        prefixLen: u.prefixLen,
        gateway: u.gateway,
        net: u.net,
        probeTarget: u.probeTarget,
      })),
      server: plan.server,
      serverPort: plan.serverPort,
      inetClient: plan.inetClient,
      mgmt: {
        net: plan.mgmt.net,
        root: plan.mgmt.rootAddress,
        gw: plan.mgmt.gwAddress,
        gwIface: plan.mgmt.gwIface,
        rootIface: plan.mgmt.rootIface,
      },
    };

    const etcDir = `/etc/netns/${plan.ns.gw}`;
    const credentials = (async () => {
      const keys = await generateKeys(this.dir, this.name);
      const accounts = await writeAccounts(etcDir, this.dir, "lbadmin", opts.sudo ?? "nopasswd");
      return { keys, accounts };
    })();

    const network = (async () => {
      const namespaces = allNamespaces(plan);
      await run([this.ip, "-batch", "-"], {
        input: namespaces.map((n) => `netns add ${n}`).join("\n"),
        check: true,
      });
      const roleOf = (n: string): Role =>
        n === plan.ns.gw ? "gw" : n === plan.ns.lan ? "lan" : n === plan.ns.inet ? "inet" : "isp";
      await Promise.all(
        namespaces.map((n) =>
          run([this.ip, "netns", "exec", n, "sysctl", "-q", "-w", ...sysctlsFor(roleOf(n), gw)], {
            check: true,
          }),
        ),
      );
      await this.ipBatch(undefined, rootLinkBatch(plan));
      await Promise.all([
        this.ipBatch(plan.ns.gw, gwBatch(plan, gw)),
        this.ipBatch(plan.ns.lan, lanBatch(plan)),
        this.ipBatch(plan.ns.inet, inetBatch(plan)),
        ...plan.uplinks.map((u) => this.ipBatch(plan.ns.isps[u.index - 1], ispBatch(u))),
        run([findTool("nft") ?? "nft", "-f", "-"], { input: mgmtGuardRuleset(plan), check: true }),
        gw.nftRuleset
          ? this.exec("gw", ["nft", "-f", "-"], { input: gw.nftRuleset, check: true })
          : undefined,
      ]);
    })();

    const [{ keys, accounts }] = await Promise.all([credentials, network]);
    const configPath = path.join(this.dir, "sshd_config");
    fs.writeFileSync(
      configPath,
      sshdConfig({
        listen: plan.mgmt.gwAddress,
        port: plan.sshPort,
        hostKeyPath: keys.host.privateKeyPath,
        authorizedKeys: path.join(this.dir, "authorized_keys"),
        pidFile: path.join(this.dir, "sshd.pid"),
      }),
    );
    this.sshd = await startSshd({
      netns: plan.ns.gw,
      configPath,
      logPath: path.join(this.dir, "sshd.log"),
      host: plan.mgmt.gwAddress,
      port: plan.sshPort,
    });
    const port = plan.sshPort;
    const common = {
      host: plan.mgmt.gwAddress,
      port,
      privateKey: keys.client.privateKey,
      privateKeyPath: keys.client.privateKeyPath,
      publicKey: keys.client.publicKey,
      hostKey: keys.host.publicKey,
      hostKeySha256: keys.host.sha256,
      hostKeyBlob: keys.host.blob,
      knownHostsLine: `${port === 22 ? plan.mgmt.gwAddress : `[${plan.mgmt.gwAddress}]:${port}`} ${keys.host.publicKey}`,
    };
    this.ssh = { ...common, username: "root", password: accounts.rootPassword };
    this.sudoUser = {
      ...common,
      username: accounts.user.username,
      password: accounts.user.password,
      sudo: accounts.user.sudo,
    };
  }

  /** Path of sshd's log (-E), for diagnosing a failed login. */
  get sshdLogPath(): string {
    return path.join(this.dir, "sshd.log");
  }

  private ipBatch(netns: string | undefined, lines: string[]): Promise<RunResult> {
    const argv = netns ? [this.ip, "-n", netns, "-batch", "-"] : [this.ip, "-batch", "-"];
    return run(argv, { input: lines.join("\n") + "\n", check: true });
  }

  /** Namespace name for a role ("gw", "lan", "inet", "isp2") or one of this lab's namespace names. */
  nsName(ns: NsRole | string): string {
    if (this.destroyed) throw new Error(`lab ${this.name} is destroyed`);
    if (ns === "gw" || ns === "lan" || ns === "inet") return this.ns[ns];
    const m = /^isp(\d+)$/.exec(ns);
    if (m) {
      const name = this.ns.isps[Number(m[1]) - 1];
      if (!name) throw new RangeError(`no ${ns} in lab ${this.name} (${this.ns.isps.length} uplinks)`);
      return name;
    }
    if (allNamespaces(this.plan).includes(ns)) return ns;
    throw new RangeError(`${ns} is not a namespace of lab ${this.name}`);
  }

  /**
   * Runs argv (no shell) inside a namespace of the lab. Resolves with the exit code unless opts.check.
   * On the gateway it runs where its SSH sessions run: sshd's network and mount namespaces (its own files).
   */
  async exec(ns: NsRole | string, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0) throw new RangeError("exec needs a command");
    const name = this.nsName(ns);
    const sshdPid = name === this.ns.gw ? this.sshd?.pid : undefined;
    return sshdPid
      ? run(["nsenter", "-t", String(sshdPid), "-m", "-n", "--", ...argv], opts)
      : run([this.ip, "netns", "exec", name, ...argv], opts);
  }

  /** One ICMP echo from a namespace; true if answered. `from` is a source address or interface (ping -I). */
  async ping(
    ns: NsRole | string,
    dst: string,
    opts: { from?: string; timeoutMs?: number } = {},
  ): Promise<boolean> {
    const secs = Math.max(0.2, (opts.timeoutMs ?? 1000) / 1000).toFixed(1);
    const argv = ["ping", "-n", "-q", "-c", "1", "-W", secs, ...(opts.from ? ["-I", opts.from] : []), dst];
    return (await this.exec(ns, argv)).code === 0;
  }

  private agent(ns: NsRole): Promise<Agent> {
    const name = this.nsName(ns);
    let a = this.agents.get(name);
    if (!a) {
      const agent = new Agent(name, `${this.name}/${ns}`);
      this.agentsStarted.push(agent);
      a = agent.ready.then(() => agent);
      this.agents.set(name, a);
      a.catch(() => this.agents.delete(name));
    }
    return a;
  }

  // --- traffic -------------------------------------------------------------------------------------------

  /** TCP server in inet on every inet address (server, probe targets), port serverPort. Idempotent. */
  startServer(): Promise<void> {
    this.serverStarted ??= (async () => {
      const agent = await this.agent("inet");
      await agent.listen("0.0.0.0", this.plan.serverPort, "inet");
    })();
    this.serverStarted.catch(() => (this.serverStarted = undefined));
    return this.serverStarted;
  }

  /** Connections the inet server accepted so far, per peer address (the uplink addresses after NAT). */
  async serverStats(): Promise<Record<string, number>> {
    await this.startServer();
    const stats = await (await this.agent("inet")).stats();
    return stats[String(this.plan.serverPort)] ?? {};
  }

  private jobTo(from: string, opts: ConnectOptions): ConnectJob {
    return { from, host: opts.to ?? this.plan.server, port: opts.port ?? this.plan.serverPort };
  }

  private async ensureServerFor(opts: ConnectOptions): Promise<void> {
    if (
      (opts.to === undefined || opts.to === this.plan.server) &&
      (opts.port ?? this.plan.serverPort) === this.plan.serverPort
    ) {
      await this.startServer();
    }
  }

  /** One TCP connection from a LAN client address; resolves with the source address the server saw. */
  async connect(from: string, opts: ConnectOptions = {}): Promise<string> {
    await this.ensureServerFor(opts);
    const job = this.jobTo(from, opts);
    const r = await (await this.agent("lan")).connect(job, opts.timeoutMs ?? 3000);
    if (r.text === undefined) throw new LabConnectError(from, `${job.host}:${job.port}`, r.error ?? "failed");
    return r.text.split(" ")[0];
  }

  /** Many connections through one agent, `concurrency` at a time. Results in the order they were planned. */
  async connectMany(
    plan: Array<{ from: string; count: number }>,
    opts: ConnectManyOptions = {},
  ): Promise<ConnectResult[]> {
    await this.ensureServerFor(opts);
    const froms: string[] = [];
    if (opts.interleave === false) {
      for (const p of plan) for (let i = 0; i < p.count; i++) froms.push(p.from);
    } else {
      const left = plan.map((p) => p.count);
      for (let round = 0; left.some((n) => n > 0); round++) {
        plan.forEach((p, i) => {
          if (left[i] > 0) {
            froms.push(p.from);
            left[i]--;
          }
        });
      }
    }
    const outcomes: ConnectOutcome[] = await (
      await this.agent("lan")
    ).connectMany(
      froms.map((f) => this.jobTo(f, opts)),
      opts.concurrency ?? 32,
      opts.timeoutMs ?? 3000,
    );
    const results = outcomes.map((o, i) => ({
      from: froms[i],
      seenAs: o.text?.split(" ")[0] ?? "",
      ...(o.text === undefined ? { error: o.error ?? "failed" } : {}),
    }));
    const failed = results.filter((r) => r.error);
    if (failed.length && !opts.allowErrors) {
      const codes = [...new Set(failed.map((f) => f.error))].join(", ");
      throw new Error(`${failed.length} of ${results.length} connections failed (${codes})`);
    }
    return results;
  }

  /** Listener in the gateway itself (the router's own service); answers "<peer> gw". */
  listenOnGw(port: number, host = "0.0.0.0"): Promise<Listener> {
    return this.listenIn("gw", host, port, "gw");
  }

  /** Listener on a LAN host address (a port-forwarding target); answers "<peer> lan:<host>". */
  listenOnLan(port: number, host = this.addresses.clients[0]): Promise<Listener> {
    return this.listenIn("lan", host, port, `lan:${host}`);
  }

  private async listenIn(role: NsRole, host: string, port: number, tag: string): Promise<Listener> {
    const agent = await this.agent(role);
    const bound = await agent.listen(host, port, tag);
    return { ns: agent.netns, host, port: bound, close: () => agent.unlisten(bound) };
  }

  /**
   * Inbound connection from inet (source inetClient, 198.51.100.2) to `dst` (an uplink address): what the
   * listener saw as peer and who it was ("gw", "lan:<addr>"), or the error when no answer came back.
   */
  async connectFromInet(
    dst: string,
    port: number,
    opts: { timeoutMs?: number; from?: string } = {},
  ): Promise<InboundResult> {
    const agent = await this.agent("inet");
    const r = await agent.connect(
      { from: opts.from ?? this.plan.inetClient, host: dst, port },
      opts.timeoutMs ?? 3000,
    );
    if (r.text === undefined) return { ok: false, error: r.error ?? "failed" };
    const [seenAs, by] = r.text.split(" ");
    return { ok: true, seenAs, by };
  }

  // --- failure injection ---------------------------------------------------------------------------------

  private uplink(k: number) {
    const u = this.plan.uplinks[k - 1];
    if (!u) throw new RangeError(`no uplink ${k} in lab ${this.name}`);
    return { u, isp: this.plan.ns.isps[k - 1] };
  }

  /** ISP k blackholes everything towards inet: its link and first hop stay up, everything beyond is dead. */
  async failUpstream(k: number): Promise<void> {
    const { isp } = this.uplink(k);
    await this.ipBatch(isp, ispUpstreamFailBatch());
  }

  async restoreUpstream(k: number): Promise<void> {
    const { u, isp } = this.uplink(k);
    await this.ipBatch(isp, ispUpstreamRestoreBatch(u));
  }

  /**
   * Carrier loss on uplink k: the ISP's end goes down, so the gateway's wanK stays administratively UP
   * with NO-CARRIER (state LOWERLAYERDOWN), and its routes stay but are flagged `linkdown`.
   */
  async linkDown(k: number): Promise<void> {
    const { isp } = this.uplink(k);
    await this.ipBatch(isp, ["link set dev down0 down"]);
  }

  async linkUp(k: number): Promise<void> {
    const { isp } = this.uplink(k);
    await this.ipBatch(isp, ["link set dev down0 up"]);
  }

  // --- inspection ----------------------------------------------------------------------------------------

  /** The gateway's state, for "destroy/delete leaves it as it was" assertions. */
  async snapshot(): Promise<GatewaySnapshot> {
    const sysctlRe =
      "^net\\.ipv4\\.(ip_forward|conf\\..*\\.(rp_filter|src_valid_mark|forwarding|ignore_routes_with_linkdown))$";
    const [nft, ipRule, routes, sysctls] = await Promise.all([
      this.exec("gw", ["nft", "list", "ruleset"], { check: true }),
      this.exec("gw", ["ip", "rule", "show"], { check: true }),
      this.exec("gw", ["ip", "route", "show", "table", "all"], { check: true }),
      this.exec("gw", ["sysctl", "-a", "--pattern", sysctlRe], { check: true }),
    ]);
    return {
      nft: nft.stdout,
      ipRule: ipRule.stdout,
      routes: routes.stdout,
      processes: this.gwProcesses().join("\n"),
      sysctls: sysctls.stdout.split("\n").filter(Boolean).sort().join("\n"),
    };
  }

  /** Resolves once the sshd child has been reaped (so no zombie of ours outlives destroy()). */
  private sshdExited(): Promise<void> {
    const child = this.sshd;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      setTimeout(resolve, 2000).unref();
    });
  }

  private ownPids(): number[] {
    const pids: number[] = [];
    if (this.sshd?.pid) pids.push(this.sshd.pid);
    return pids;
  }

  private gwProcesses(): string[] {
    const agentPids = new Set(this.agentsStarted.map((a) => a.pid));
    const lines: string[] = [];
    for (const pid of pidsInNetns([this.ns.gw])) {
      if (agentPids.has(pid)) continue;
      const d = describeProcess(pid);
      if (!d || d.comm === "sshd") continue;
      lines.push(`${d.comm}: ${d.cmdline}`);
    }
    return lines.sort();
  }

  /** PIDs of every process in the lab's namespaces right now. */
  processes(): number[] {
    return pidsInNetns(allNamespaces(this.plan));
  }

  // --- teardown ------------------------------------------------------------------------------------------

  private target(): TeardownTarget {
    return { id: this.id, dir: isLabDir(this.dir) ? this.dir : undefined, ownPids: this.ownPids() };
  }

  /** Kills everything the lab started, deletes its namespaces and files. Idempotent; safe on a partial lab. */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      const started = Date.now();
      for (const a of this.agentsStarted) a.killSync();
      const survivors = await teardown(this.target());
      await Promise.all([...this.agentsStarted.map((a) => a.stop()), this.sshdExited()]);
      live.delete(this.id);
      this.timings.destroyMs = Date.now() - started;
      if (survivors.length)
        throw new Error(`lab ${this.name}: processes survived teardown: ${survivors.join(", ")}`);
    })();
    return this.destroyed;
  }

  /** @internal synchronous best-effort teardown for the process 'exit' hook. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = Promise.resolve();
    for (const a of this.agentsStarted) a.killSync();
    teardownSync(this.target());
    live.delete(this.id);
  }
}
