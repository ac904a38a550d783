/**
 * VM lab: a real Debian gateway (systemd as PID 1, its own kernel) under qemu's software emulation, for
 * what the namespace lab cannot show: a reboot. See README.md beside this file.
 *
 *   const vm = await createVm({ label: "test/vm/vm.test.ts" });
 *   try { ...vm.ssh..., await vm.exec("nft list ruleset"), await vm.reboot() } finally { await vm.destroy(); }
 *
 * The image (image.sh) is built once and cached; each VM runs on a throwaway qcow2 overlay. The management
 * NIC is a tap in the root namespace on 169.254.250.0/30 (guarded: the root namespace accepts only the VM's
 * address on it); lan0, wan1 and wan2 are taps moved into the lab's own namespaces, the namespace lab's
 * topology (labs/linux-lab/README.md) with the VM as its gateway:
 *
 *   lan  (192.168.0.10/24, default via the VM's lan0 192.168.0.1)
 *   ispK (10.(110+K).0.1/24 on the VM's wanK; forwards, no NAT; 100.64.K.1/30 to inet's 100.64.K.2)
 *   inet (on lo: 198.51.100.1 server, 203.0.113.K probe targets; routes back to 10.(110+K).0.0/24 via ISP K)
 *
 * Traffic never leaves these namespaces. Needs root.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const MGMT_HOST = "169.254.250.1";
export const MGMT_GUEST = "169.254.250.2";
const MARKER_DIR = "/run/lbgw";

/** The guest's NICs: name, MAC (pinned by the image's .link files), PCI slot, tap suffix. */
export const NICS = [
  { name: "mgmt0", mac: "52:54:00:4c:00:01", slot: 5, tap: "m" },
  { name: "lan0", mac: "52:54:00:4c:00:02", slot: 6, tap: "l" },
  { name: "wan1", mac: "52:54:00:4c:00:03", slot: 7, tap: "1" },
  { name: "wan2", mac: "52:54:00:4c:00:04", slot: 8, tap: "2" },
] as const;
export type NicName = (typeof NICS)[number]["name"];

/** The guest's addresses (image.sh) and the `up` namespace's ends of its links. */
export const ADDRESSES = {
  lanIface: "lan0",
  lanNet: "192.168.0.0/24",
  lanGw: "192.168.0.1",
  lanClient: "192.168.0.10",
  uplinks: [
    { iface: "wan1", address: "10.111.0.2", gateway: "10.111.0.1", probeTarget: "203.0.113.1" },
    { iface: "wan2", address: "10.112.0.2", gateway: "10.112.0.1", probeTarget: "203.0.113.2" },
  ],
};

export interface VmImage {
  dir: string;
  privateKey: string;
  /** "ssh-ed25519 AAAA..." */
  hostKey: string;
}

export type Role = "lan" | "isp1" | "isp2" | "inet";
const ROLES: Role[] = ["lan", "isp1", "isp2", "inet"];
/** Where each NIC's tap lives once qemu holds it (mgmt0's stays in the root namespace). */
const TAP_ROLE: Record<string, Role> = { l: "lan", "1": "isp1", "2": "isp2" };
export const SERVER = "198.51.100.1";

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface Vm {
  id: string;
  /** The lab's namespaces (their names). */
  ns: Record<Role, string>;
  ssh: { host: string; port: number; username: "root"; privateKey: string; hostKey: string };
  /** A shell command line in the guest, as root over SSH; always times out (default 30 s). */
  exec(cmd: string, opts?: { timeoutMs?: number; check?: boolean }): Promise<ExecResult>;
  /** The guest's boot_id. */
  bootId(): Promise<string>;
  /** `systemctl reboot`, then until SSH answers with a new boot_id; resolves to the milliseconds taken. */
  reboot(): Promise<number>;
  /**
   * Power off, then boot again with only `nics` plugged (mgmt0 always); resolves to the milliseconds
   * until SSH answers. The taps stay: an unplugged NIC's tap is only not attached.
   */
  powerCycle(nics?: NicName[]): Promise<number>;
  /** Hot-plugs a NIC left out by `powerCycle` (qemu monitor `device_add`). */
  plug(nic: NicName): Promise<void>;
  /** Milliseconds from the first qemu start until SSH answered. */
  bootMs: number;
  /** A command line (argv) in one of the lab's namespaces. */
  nsExec(role: Role, argv: string[]): ExecResult;
  /** Starts (once) the inet server on SERVER:`port`: it answers each connection with the address it saw. */
  startServer(port?: number): Promise<void>;
  /** One TCP connection from the LAN client to the server: the source address the server saw, or undefined. */
  connect(port?: number, timeoutS?: number): string | undefined;
  /** Blackholes ISP `k`'s default route: its link and first hop still answer, nothing beyond does. */
  cutUpstream(k: 1 | 2): void;
  restoreUpstream(k: 1 | 2): void;
  destroy(): Promise<void>;
}

function findUp(rel: string): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const candidate = path.join(dir, rel);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  throw new Error(`linux-vm: ${rel} not found above ${__dirname} or ${process.cwd()}`);
}

const log = (msg: string) =>
  process.stderr.write(`[linux-vm ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Runs argv synchronously; throws with its stderr unless it exits 0 (or `check` is false). */
function sh(argv: string[], check = true): ExecResult {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 60_000 });
  const res = { stdout: r.stdout ?? "", stderr: r.stderr ?? "", code: r.status };
  if (check && r.status !== 0)
    throw new Error(`linux-vm: ${argv.join(" ")} exited ${r.status}: ${res.stderr.trim()}`);
  return res;
}

export function vmSupported(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== "linux") return { ok: false, reason: `needs Linux, this is ${process.platform}` };
  if (process.getuid?.() !== 0) return { ok: false, reason: "needs root (debootstrap, taps, namespaces)" };
  if (!fs.existsSync("/dev/net/tun")) return { ok: false, reason: "no /dev/net/tun" };
  return { ok: true };
}

let imagePromise: Promise<VmImage> | undefined;

/** Builds (once, cached; see image.sh) the gateway image; progress on stderr. */
export function ensureVmImage(): Promise<VmImage> {
  imagePromise ??= new Promise<VmImage>((resolve, reject) => {
    const script = findUp(path.join("labs", "linux-vm", "image.sh"));
    const child = spawn("bash", [script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => process.stderr.write(d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${script} exited ${code}`));
      const dir = out.trim().split("\n").pop() as string;
      const hostKey = fs.readFileSync(path.join(dir, "ssh_host_ed25519_key.pub"), "utf8").trim().split(/\s+/);
      resolve({
        dir,
        privateKey: fs.readFileSync(path.join(dir, "id_ed25519"), "utf8"),
        hostKey: `${hostKey[0]} ${hostKey[1]}`,
      });
    });
  });
  imagePromise.catch(() => (imagePromise = undefined));
  return imagePromise;
}

interface Marker {
  id: string;
  owner: number;
  ownerStart: string;
  qemuPidFile: string;
  dir: string;
}

const procStart = (pid: number): string | undefined => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[19];
  } catch {
    return undefined;
  }
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const readPid = (file: string): number | undefined => {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
};

/** The qemu pid of a pidfile, only if that process is a qemu (a recycled pid is never killed). */
function qemuPid(file: string): number | undefined {
  const pid = readPid(file);
  if (pid === undefined) return undefined;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("qemu-system") ? pid : undefined;
  } catch {
    return undefined;
  }
}

const tapName = (id: string, suffix: string) => `lbgwv${id}${suffix}`;
const nsName = (id: string, role: Role) => `lbgwv-${id}-${role}`;
const guardTable = (id: string) => `lbgwv_${id}_mgmt`;

/** Everything of lab `id`, synchronously: qemu (by its pidfile), taps, namespace, guard table, files. */
function teardownSync(m: Marker): void {
  const pid = qemuPid(m.qemuPidFile);
  if (pid !== undefined) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
    for (let i = 0; i < 100 && alive(pid); i++) spawnSync("sleep", ["0.05"]);
  }
  sh(["nft", "delete", "table", "netdev", guardTable(m.id)], false);
  for (const role of ROLES) {
    const ns = nsName(m.id, role);
    // processes the lab started in its own namespaces (the server), found by namespace, never by name
    for (const p of sh(["ip", "netns", "pids", ns], false).stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    sh(["ip", "netns", "delete", ns], false);
  }
  for (const n of NICS) sh(["ip", "link", "delete", tapName(m.id, n.tap)], false);
  fs.rmSync(m.dir, { recursive: true, force: true });
  fs.rmSync(path.join(MARKER_DIR, `vm-${m.id}.json`), { force: true });
}

/** Labs whose owner died (SIGKILL, crashed runner): only ids with a marker whose owner is gone. */
export function sweepStaleVms(): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(MARKER_DIR).filter((n) => /^vm-[0-9a-f]{4}\.json$/.test(n));
  } catch {
    return;
  }
  for (const n of names) {
    try {
      const m = JSON.parse(fs.readFileSync(path.join(MARKER_DIR, n), "utf8")) as Marker;
      if (procStart(m.owner) === m.ownerStart) continue;
      log(`removing the stale VM lab ${m.id} (owner ${m.owner} is gone)`);
      teardownSync(m);
    } catch {
      /* unreadable marker: leave it */
    }
  }
}

const live = new Map<string, Marker>();
let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const all = () => {
    for (const m of live.values()) teardownSync(m);
    live.clear();
  };
  process.on("exit", all);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    if (process.listenerCount(sig) > 0) continue;
    const onSignal = () => {
      all();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** The namespaces around the VM (everything but the taps, which qemu must hold before they move). */
function buildTopology(ns: Record<Role, string>): void {
  for (const role of ROLES) {
    sh(["ip", "netns", "add", ns[role]]);
    const sysctls = [
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
      "net.ipv4.conf.all.rp_filter=0",
      "net.ipv4.conf.default.rp_filter=0",
      `net.ipv4.ip_forward=${role.startsWith("isp") ? 1 : 0}`,
    ];
    sh(["ip", "netns", "exec", ns[role], "sysctl", "-qw", ...sysctls]);
    sh(["ip", "-n", ns[role], "link", "set", "lo", "up"]);
  }
  const inet = (argv: string[]) => sh(["ip", "-n", ns.inet, ...argv]);
  for (const a of [`${SERVER}/32`, "203.0.113.1/32", "203.0.113.2/32"]) inet(["addr", "add", a, "dev", "lo"]);
  for (const k of [1, 2] as const) {
    const isp = ns[`isp${k}`];
    sh([
      "ip",
      "link",
      "add",
      "up0",
      "netns",
      isp,
      "type",
      "veth",
      "peer",
      "name",
      `isp${k}`,
      "netns",
      ns.inet,
    ]);
    sh(["ip", "-n", isp, "addr", "add", `100.64.${k}.1/30`, "dev", "up0"]);
    sh(["ip", "-n", isp, "link", "set", "up0", "up"]);
    inet(["addr", "add", `100.64.${k}.2/30`, "dev", `isp${k}`]);
    inet(["link", "set", `isp${k}`, "up"]);
    sh(["ip", "-n", isp, "route", "add", "default", "via", `100.64.${k}.2`]);
    inet(["route", "add", `10.${110 + k}.0.0/24`, "via", `100.64.${k}.1`]);
  }
}

export interface VmOptions {
  /** Free text in the ownership marker (e.g. the test file). */
  label?: string;
  /** Milliseconds to wait for SSH after a boot. Default 240 s. */
  bootTimeoutMs?: number;
}

export async function createVm(opts: VmOptions = {}): Promise<Vm> {
  const ok = vmSupported();
  if (!ok.ok) throw new Error(`linux-vm: ${ok.reason}`);
  const image = await ensureVmImage();
  sweepStaleVms();
  const inUse = sh(["ip", "-4", "-o", "addr", "show", "to", "169.254.250.0/30"], false).stdout.trim();
  if (inUse) throw new Error(`linux-vm: 169.254.250.0/30 is in use already (another VM lab?): ${inUse}`);

  const id = randomBytes(2).toString("hex");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lbgw-vm-${id}-`));
  const marker: Marker = {
    id,
    owner: process.pid,
    ownerStart: procStart(process.pid) ?? "",
    qemuPidFile: path.join(dir, "qemu.pid"),
    dir,
  };
  fs.mkdirSync(MARKER_DIR, { recursive: true });
  fs.writeFileSync(path.join(MARKER_DIR, `vm-${id}.json`), JSON.stringify({ ...marker, label: opts.label }));
  live.set(id, marker);
  installHandlers();

  const ns = Object.fromEntries(ROLES.map((r) => [r, nsName(id, r)])) as Record<Role, string>;
  const keyFile = path.join(dir, "id_ed25519");
  const knownHosts = path.join(dir, "known_hosts");
  const overlay = path.join(dir, "overlay.qcow2");
  const monitor = path.join(dir, "monitor.sock");
  const serial = path.join(dir, "serial.log");
  const bootTimeoutMs = opts.bootTimeoutMs ?? 240_000;
  let destroyed = false;

  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    const pid = qemuPid(marker.qemuPidFile);
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* gone */
      }
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    }
    teardownSync(marker);
    live.delete(id);
  };

  try {
    fs.writeFileSync(keyFile, image.privateKey, { mode: 0o600 });
    fs.writeFileSync(knownHosts, `${MGMT_GUEST} ${image.hostKey}\n`);
    sh([
      "qemu-img",
      "create",
      "-q",
      "-f",
      "qcow2",
      "-F",
      "raw",
      "-b",
      path.join(image.dir, "rootfs.raw"),
      overlay,
    ]);

    // taps: mgmt in the root namespace (guarded), the others moved into `up` once qemu holds them
    for (const n of NICS) {
      sh(["ip", "tuntap", "add", "dev", tapName(id, n.tap), "mode", "tap"]);
      sh(["ip", "link", "set", tapName(id, n.tap), "up"]);
    }
    const mgmtTap = tapName(id, "m");
    sh(["sysctl", "-qw", `net.ipv6.conf.${mgmtTap}.disable_ipv6=1`], false);
    sh(["ip", "addr", "add", `${MGMT_HOST}/30`, "dev", mgmtTap]);
    const guard = spawnSync("nft", ["-f", "-"], {
      encoding: "utf8",
      input: [
        `table netdev ${guardTable(id)} {`,
        `  chain mgmt_in {`,
        `    type filter hook ingress device "${mgmtTap}" priority 0; policy drop;`,
        `    meta protocol arp accept`,
        `    ip saddr ${MGMT_GUEST} accept`,
        `  }`,
        `}`,
        ``,
      ].join("\n"),
    });
    if (guard.status !== 0) throw new Error(`linux-vm: guard table: ${guard.stderr}`);
    buildTopology(ns);

    const vm: Vm = {
      id,
      ns,
      ssh: {
        host: MGMT_GUEST,
        port: 22,
        username: "root",
        privateKey: image.privateKey,
        hostKey: image.hostKey,
      },
      bootMs: 0,
      exec: (cmd, o = {}) => sshExec(keyFile, knownHosts, cmd, o.timeoutMs ?? 30_000, o.check ?? true),
      bootId: async () =>
        (
          await sshExec(keyFile, knownHosts, "cat /proc/sys/kernel/random/boot_id", 15_000, true)
        ).stdout.trim(),
      async reboot() {
        const before = await vm.bootId();
        const start = Date.now();
        await sshExec(keyFile, knownHosts, "systemctl reboot", 10_000, false).catch(() => undefined);
        await waitSsh(before);
        return Date.now() - start;
      },
      async powerCycle(nics = ["lan0", "wan1", "wan2"]) {
        await sshExec(keyFile, knownHosts, "systemctl poweroff", 10_000, false).catch(() => undefined);
        const pid = qemuPid(marker.qemuPidFile);
        const limit = Date.now() + 120_000;
        while (pid !== undefined && alive(pid)) {
          if (Date.now() > limit) {
            process.kill(pid, "SIGKILL");
            await new Promise((r) => setTimeout(r, 500));
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        const start = Date.now();
        startQemu(["mgmt0", ...nics]);
        await waitSsh(undefined);
        return Date.now() - start;
      },
      async plug(nic) {
        const n = NICS.find((x) => x.name === nic);
        if (!n) throw new Error(`linux-vm: no NIC ${nic}`);
        await qmp("device_add", {
          driver: "virtio-net-pci",
          netdev: `n${n.tap}`,
          mac: n.mac,
          addr: `0x${n.slot.toString(16)}`,
          id: `d${n.tap}`,
        });
      },
      nsExec: (role, argv) => sh(["ip", "netns", "exec", ns[role], ...argv], false),
      async startServer(port = 8080) {
        const listening = () =>
          sh(["ip", "netns", "exec", ns.inet, "ss", "-Hltn", `sport = :${port}`], false).stdout.trim() !== "";
        if (listening()) return;
        const server = spawn(
          "ip",
          [
            "netns",
            "exec",
            ns.inet,
            "socat",
            `TCP-LISTEN:${port},fork,reuseaddr,bind=${SERVER}`,
            "SYSTEM:echo $SOCAT_PEERADDR",
          ],
          { stdio: "ignore", detached: true },
        );
        server.unref();
        for (let i = 0; i < 100 && !listening(); i++) await new Promise((r) => setTimeout(r, 50));
        if (!listening()) throw new Error(`linux-vm: the inet server on port ${port} does not listen`);
      },
      connect(port = 8080, timeoutS = 3) {
        const r = spawnSync(
          "ip",
          ["netns", "exec", ns.lan, "socat", "-u", `TCP:${SERVER}:${port},connect-timeout=${timeoutS}`, "-"],
          { encoding: "utf8", timeout: (timeoutS + 3) * 1000 },
        );
        const seen = (r.stdout ?? "").trim();
        return r.status === 0 && seen ? seen : undefined;
      },
      cutUpstream: (k) => void sh(["ip", "-n", ns[`isp${k}`], "route", "replace", "blackhole", "default"]),
      restoreUpstream: (k) =>
        void sh(["ip", "-n", ns[`isp${k}`], "route", "replace", "default", "via", `100.64.${k}.2`]),
      destroy,
    };

    /** A QMP command over the monitor socket; resolves to its "return", rejects with its "error". */
    const qmp = (execute: string, args: Record<string, unknown>): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const s = net.connect(monitor);
        let buf = "";
        let step = 0;
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error(`linux-vm: QMP: no answer to ${execute}`));
        }, 10_000);
        const done = (f: () => void) => {
          clearTimeout(timer);
          s.end();
          f();
        };
        s.on("data", (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split("\n");
          buf = lines.pop() as string;
          for (const line of lines) {
            if (!line.trim()) continue;
            const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string } };
            if (msg.error) return done(() => reject(new Error(`linux-vm: ${execute}: ${msg.error?.desc}`)));
            if (step === 0 && msg.QMP) {
              step = 1;
              s.write(`${JSON.stringify({ execute: "qmp_capabilities" })}\n`);
            } else if (step === 1 && "return" in msg) {
              step = 2;
              s.write(`${JSON.stringify({ execute, arguments: args })}\n`);
            } else if (step === 2 && "return" in msg) {
              return done(() => resolve(msg.return));
            }
          }
        });
        s.on("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });

    /** Starts qemu (-daemonize: returns once the taps are attached), then puts the uplink taps in `up`. */
    const startQemu = (nics: string[]) => {
      // taps left in `up` by an earlier boot come back: qemu opens them by name in its own namespace
      for (const n of NICS.slice(1)) {
        const t = tapName(id, n.tap);
        const where = ns[TAP_ROLE[n.tap]];
        if (sh(["ip", "-n", where, "link", "show", t], false).code === 0)
          sh(["ip", "-n", where, "link", "set", t, "netns", "1"]);
      }
      const args = [
        "-name",
        `lbgw-vm-${id}`,
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-M",
        "pc",
        "-smp",
        "2",
        "-m",
        "1024",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        `file:${serial}`,
        "-qmp",
        `unix:${monitor},server=on,wait=off`,
        "-kernel",
        path.join(image.dir, "vmlinuz"),
        "-initrd",
        path.join(image.dir, "initrd.img"),
        "-append",
        "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet",
        "-drive",
        `file=${overlay},if=none,id=d0,format=qcow2`,
        "-device",
        "virtio-blk-pci,drive=d0,addr=0x4",
        "-daemonize",
        "-pidfile",
        marker.qemuPidFile,
      ];
      for (const n of NICS) {
        args.push("-netdev", `tap,id=n${n.tap},ifname=${tapName(id, n.tap)},script=no,downscript=no`);
        if (nics.includes(n.name))
          args.push(
            "-device",
            `virtio-net-pci,netdev=n${n.tap},mac=${n.mac},addr=0x${n.slot.toString(16)},id=d${n.tap}`,
          );
      }
      fs.rmSync(marker.qemuPidFile, { force: true });
      const r = spawnSync("qemu-system-x86_64", args, { encoding: "utf8", timeout: 60_000 });
      if (r.status !== 0) throw new Error(`linux-vm: qemu exited ${r.status}: ${r.stderr}`);
      placeUplinkTaps();
    };

    /** lan0/wan1/wan2's taps into their namespaces, with the addresses and routes a move drops. */
    const placeUplinkTaps = () => {
      const x = (role: Role, argv: string[]) => sh(["ip", "-n", ns[role], ...argv]);
      for (const n of NICS.slice(1)) {
        const t = tapName(id, n.tap);
        sh(["ip", "link", "set", t, "netns", ns[TAP_ROLE[n.tap]]]);
        x(TAP_ROLE[n.tap], ["link", "set", t, "up"]);
      }
      x("lan", ["addr", "replace", "192.168.0.10/24", "dev", tapName(id, "l")]);
      x("lan", ["route", "replace", "default", "via", ADDRESSES.lanGw]);
      for (const k of [1, 2] as const) {
        x(`isp${k}`, ["addr", "replace", `10.${110 + k}.0.1/24`, "dev", tapName(id, String(k))]);
      }
    };

    /** Until SSH answers with a boot_id other than `old` (any, if undefined). */
    const waitSsh = async (old: string | undefined) => {
      const limit = Date.now() + bootTimeoutMs;
      for (;;) {
        const pid = qemuPid(marker.qemuPidFile);
        if (pid === undefined) throw new Error(`linux-vm: qemu is gone; console:\n${tail(serial)}`);
        const r = await sshExec(
          keyFile,
          knownHosts,
          "cat /proc/sys/kernel/random/boot_id",
          8_000,
          false,
        ).catch(() => undefined);
        const bootId = r?.code === 0 ? r.stdout.trim() : undefined;
        if (bootId && bootId !== old) return;
        if (Date.now() > limit)
          throw new Error(`linux-vm: no SSH after ${bootTimeoutMs / 1000}s; console:\n${tail(serial)}`);
        await new Promise((r2) => setTimeout(r2, 1000));
      }
    };

    const start = Date.now();
    log(`booting VM ${id} (software emulation: about 30 s)`);
    startQemu(["mgmt0", "lan0", "wan1", "wan2"]);
    await waitSsh(undefined);
    vm.bootMs = Date.now() - start;
    log(`VM ${id}: SSH after ${(vm.bootMs / 1000).toFixed(1)} s`);
    return vm;
  } catch (e) {
    await destroy();
    throw e;
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no console log)";
  }
}

/** `cmd` in the guest over OpenSSH's client: host key pinned, keepalives, killed after `timeoutMs`. */
function sshExec(
  keyFile: string,
  knownHosts: string,
  cmd: string,
  timeoutMs: number,
  check: boolean,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "ssh",
      [
        "-i",
        keyFile,
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "ServerAliveInterval=2",
        "-o",
        "ServerAliveCountMax=3",
        "-o",
        "LogLevel=ERROR",
        `root@${MGMT_GUEST}`,
        "--",
        cmd,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const r = { stdout, stderr, code };
      if (signal) return reject(new Error(`linux-vm: ssh timed out after ${timeoutMs} ms: ${cmd}`));
      if (check && code !== 0)
        return reject(new Error(`linux-vm: "${cmd}" exited ${code}: ${stderr.trim()}`));
      resolve(r);
    });
  });
}
