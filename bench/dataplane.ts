/**
 * Benchmark 3: the data plane of the generated Linux ruleset, on the namespace lab's real kernel.
 *
 * a) TCP throughput and small-packet (64-byte UDP) rate from a LAN client through the gateway, with the
 *    provider's ruleset (2 uplinks, nth 1:1) and with plain single-uplink masquerade (one nft masquerade
 *    rule, a main-table default route), each in a lab of its own, interleaved: BENCH_DP_TRIALS trials
 *    (default 5) of one BENCH_DP_SECONDS iperf3 run (default 5) per variant, the order reversed every other
 *    trial; the ratio generated / plain is taken per trial (neighbours in time share the machine's load)
 *    and reported as median [min-max]. The gateway's packet processing runs on a CPU of its own (receive
 *    packet steering), iperf3 and the other namespaces on the rest (taskset): with 2 cores a software sender
 *    cannot saturate a gateway, so besides the rates the benchmark measures the gateway CPU's NET_RX
 *    softirq time (softirq.ts) and reports the gateway's capacity, forwarded per second of that CPU.
 *    A third variant, plain + one ip rule that never matches, shows what the kernel's policy-routing path
 *    alone costs. Target: generated / plain >= 0.95.
 *    Two peers, what users would run instead, in the same interleaved trials, each in a lab of its own
 *    (peers.ts has their rulesets and where each rule comes from): `seed003`, seed 003's iptables ruleset
 *    as its text intends (nth pool, CONNMARK restore/save, fwmark rules, NAT per link), its mistakes
 *    corrected; `mwan3`, what OpenWrt's mwan3 installs for one policy of two weight-1 members, sticky off
 *    (iptables mangle chains, ipsets, fwmark rules). Both with iptables-nft, weights 1:1 and a MASQUERADE per
 *    uplink; before the trials a peer must spread 20 new connections over both uplinks. Reported: generated
 *    / peer per trial, gateway capacity (or, without the CPU clock, the rate), UDP and TCP. Target >= 1.0.
 * b) Rules evaluated per packet at 2, 4, 8 and 16 uplinks: the owned table is reloaded with a `counter`
 *    as the first statement of every rule (a rule's counter then counts every packet that reaches the
 *    rule, matched or not) and UDP datagrams are sent from the LAN: 10000 on one flow (the per-packet path
 *    of an established connection) and 2000 one-datagram flows (the path of a new connection). Evaluations
 *    / forwarded datagrams (counted by a separate forward-hook counter), the prober's background traffic
 *    over the same time subtracted. Target: no growth with the number of uplinks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as os from "node:os";
import { LinuxApplyError } from "../provider/linux/apply";
import type { Lab } from "../labs/linux-lab";
import { createLab } from "../labs/linux-lab";
import { run } from "../labs/linux-lab/proc";
import type { Section } from "./lib";
import { median, progress, round, sleep } from "./lib";
import { backendFor, ensureBenchTools, labSpec, removeOwnerFiles, silentLog } from "./lab";
import type { Peer } from "./peers";
import { ensurePeerTools, PEERS, peerScript } from "./peers";
import { cpuMask, SoftirqClock } from "./softirq";

const UDP_PORT = 9999;
const IPERF_PORT = 5201;

/** Applies; a "did not converge" after writing leaves the ruleset in place (a known defect with >= 10 links). */
async function applyTolerant(lab: Lab, owner: string, uplinks: number, notes: string[]): Promise<void> {
  const b = await backendFor(labSpec(lab, owner, {}, uplinks));
  try {
    await b.apply(silentLog);
  } catch (e) {
    if (!(e instanceof LinuxApplyError) || !/did not converge/.test(e.message)) throw e;
    notes.push(
      `DEFECT at ${uplinks} uplinks: apply wrote the ruleset but its verify failed ("did not converge": the output chain's oifname map lists its elements in another order than rendered); measured on the ruleset as written.`,
    );
  }
}

// --- a) throughput and packet rate -----------------------------------------------------------------------

type Kind = "udp" | "tcp";
/**
 * plain + rule: plain, plus one ip rule that never matches: the kernel's policy-routing path switched on.
 * seed003, mwan3: the peers (peers.ts).
 */
type Variant = "generated" | "plain" | "plain + rule" | Peer;
/** Variants measured per kind, in trial order (reversed every other trial); the peers when their tools are there. */
function variantsFor(kind: Kind, peers: boolean): Variant[] {
  const ours: Variant[] = kind === "udp" ? ["generated", "plain", "plain + rule"] : ["generated", "plain"];
  return peers ? [...ours, ...PEERS] : ours;
}
const isPeer = (v: Variant): v is Peer => (PEERS as string[]).includes(v);
const UDP_PAYLOAD = 64;

/** The gateway's forwarding on a CPU of its own (`gateway`); everything else (iperf3, ISPs, inet) on `others`. */
interface Cpus {
  gateway: number;
  others: number[];
}

function cpuPlacement(): Cpus | undefined {
  const n = os.cpus().length;
  return n < 2 ? undefined : { gateway: n - 1, others: Array.from({ length: n - 1 }, (_, i) => i) };
}

/** A lab whose gateway holds one variant, with its iperf3 server. */
interface Gateway {
  variant: Variant;
  lab: Lab;
  server: ChildProcess;
  /** A peer's spread of 20 new connections over the uplinks, e.g. "10/10". */
  split?: string;
  close(): Promise<void>;
}

const netns = (ns: string, argv: string[], input?: string) =>
  run(["ip", "netns", "exec", ns, ...argv], { check: true, input });
const pinned = (cpus: Cpus | undefined, argv: string[]) =>
  cpus ? ["taskset", "-c", cpus.others.join(","), ...argv] : argv;

/** Receive packet steering of every interface of a namespace: whose CPUs process what arrives there. */
const steer = (ns: string, mask: string) =>
  netns(ns, [
    "sh",
    "-c",
    'for f in /sys/class/net/*/queues/rx-*/rps_cpus; do echo "$1" > "$f"; done',
    "sh",
    mask,
  ]);

/**
 * What the gateway receives (LAN and uplinks) is processed on the gateway CPU, what the LAN client
 * receives on the others. UDP: the ISPs drop the datagrams on arrival (see gatewayLab) where they arrive,
 * on the gateway CPU, at a cost both variants share; TCP: the ISPs and inet work on the other CPUs.
 */
async function steerAll(g: Gateway, cpus: Cpus, kind: Kind): Promise<void> {
  await steer(g.lab.ns.gw, cpuMask([cpus.gateway]));
  await steer(g.lab.ns.lan, cpuMask(cpus.others));
  for (const isp of g.lab.ns.isps) await steer(isp, kind === "udp" ? "0" : cpuMask(cpus.others));
}

async function plainMasquerade(lab: Lab): Promise<void> {
  const u = lab.addresses.uplinks[0];
  await lab.exec("gw", ["nft", "-f", "-"], {
    check: true,
    input: `table ip benchplain {\n  chain post { type nat hook postrouting priority srcnat; oifname "${u.iface}" masquerade; }\n}\n`,
  });
  await lab.exec("gw", ["ip", "route", "replace", "default", "via", u.gateway], { check: true });
}

/**
 * A peer's ruleset (peers.ts), then a check that it balances: 20 new TCP connections from the LAN must
 * leave through both uplinks (the inet server sees the uplink's address). Returns the spread, "n1/n2".
 */
async function applyPeer(lab: Lab, peer: Peer): Promise<string> {
  await lab.exec("gw", ["sh", "-eu"], { check: true, input: peerScript(peer, lab.addresses) });
  const seen = await lab.connectMany([{ from: lab.addresses.clients[0], count: 20 }], { concurrency: 1 });
  const per = lab.addresses.uplinks.map((u) => seen.filter((r) => r.seenAs === u.address).length);
  if (per.some((n) => n === 0) || per.reduce((a, b) => a + b, 0) !== seen.length)
    throw new Error(
      `${peer}: 20 new connections left as ${seen.map((r) => r.seenAs).join(" ")}: not balanced over the uplinks`,
    );
  return per.join("/");
}

/**
 * A lab of its own per variant: the kernel keeps a namespace on its policy-routing path once an ip rule
 * was ever added there (deleting the rules does not switch it back), so a plain gateway measured where
 * the provider's ruleset once was would not be plain.
 */
async function gatewayLab(variant: Variant, cpus: Cpus | undefined): Promise<Gateway> {
  const lab = await createLab({ uplinks: 2, clients: 2, label: `bench/dataplane ${variant}` });
  const owner = `bt${lab.id}`;
  const backend = variant === "generated" ? await backendFor(labSpec(lab, owner)) : undefined;
  let server: ChildProcess | undefined;
  let split: string | undefined;
  const close = async () => {
    server?.kill("SIGKILL");
    await backend?.destroy(silentLog).catch(() => undefined);
    await lab.destroy();
    removeOwnerFiles(owner);
  };
  try {
    if (backend) await backend.apply(silentLog);
    else if (isPeer(variant)) split = await applyPeer(lab, variant);
    else await plainMasquerade(lab);
    if (variant === "plain + rule")
      await lab.exec("gw", ["ip", "rule", "add", "pref", "1000", "fwmark", "0xbe00", "lookup", "200"], {
        check: true,
      });
    // The benchmark's datagrams end at the ISPs, as they arrive: no CPU spent beyond the gateway.
    for (const isp of lab.ns.isps)
      await netns(
        isp,
        ["nft", "-f", "-"],
        `table netdev benchsink {\n  chain in { type filter hook ingress device "down0" priority 0; udp dport ${IPERF_PORT} udp length ${8 + UDP_PAYLOAD} drop; }\n}\n`,
      );
    server = spawn(
      "ip",
      [
        "netns",
        "exec",
        lab.ns.inet,
        ...pinned(cpus, ["iperf3", "-s", "-B", lab.addresses.server, "-p", String(IPERF_PORT)]),
      ],
      { stdio: "ignore" },
    );
    server.on("error", () => undefined);
    await sleep(300);
    return { variant, lab, server, split, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Packets and bytes the gateway has sent out of its uplinks. */
async function uplinkTx(lab: Lab): Promise<{ packets: number; bytes: number }> {
  const links = JSON.parse(
    (await lab.exec("gw", ["ip", "-j", "-s", "link", "show"], { check: true })).stdout,
  ) as Array<{
    ifname: string;
    stats64?: { tx: { packets: number; bytes: number } };
  }>;
  const up = links.filter((l) => /^wan\d+$/.test(l.ifname) && l.stats64);
  return {
    packets: up.reduce((n, l) => n + (l.stats64?.tx.packets ?? 0), 0),
    bytes: up.reduce((n, l) => n + (l.stats64?.tx.bytes ?? 0), 0),
  };
}

/** iperf3 from the LAN client: its own figure (TCP Gbit/s received, UDP kpackets/s sent) and duration. */
async function iperf(
  lab: Lab,
  kind: Kind,
  seconds: number,
  cpus: Cpus | undefined,
): Promise<{ rate: number; seconds: number }> {
  const argv = pinned(cpus, [
    "iperf3",
    "-c",
    lab.addresses.server,
    "-p",
    String(IPERF_PORT),
    "-B",
    lab.addresses.clients[0],
    "-t",
    String(seconds),
    "-J",
    ...(kind === "udp" ? ["-u", "-b", "0", "-l", String(UDP_PAYLOAD)] : []),
  ]);
  for (let attempt = 0; ; attempt++) {
    const r = await lab.exec("lan", argv, { timeoutMs: (seconds + 15) * 1000 });
    try {
      type Sum = { bits_per_second: number; packets?: number; seconds: number };
      const j = JSON.parse(r.stdout) as { error?: string; end: { sum_sent: Sum; sum_received: Sum } };
      if (j.error) throw new Error(j.error);
      const s = kind === "udp" ? j.end.sum_sent : j.end.sum_received;
      const rate = kind === "udp" ? (s.packets ?? NaN) / s.seconds / 1e3 : s.bits_per_second / 1e9;
      return { rate, seconds: s.seconds };
    } catch (e) {
      // the server may still be busy with the previous test for a moment
      if (attempt >= 3) throw new Error(`iperf3 failed: ${(e as Error).message} ${r.stderr}`);
      await sleep(500);
    }
  }
}

interface Sample {
  trial: number;
  kind: Kind;
  variant: Variant;
  /** iperf3's own figure: TCP Gbit/s received, UDP kpackets/s sent. */
  endToEnd: number;
  /** Through the gateway (its uplink counters): UDP kpackets/s, TCP Gbit/s. */
  forwarded: number;
  /** Seconds of packet processing (NET_RX softirq) on the gateway CPU. */
  gatewayCpuSeconds?: number;
  /** Forwarded per second of gateway CPU: UDP kpackets/s, TCP Gbit/s, per core. */
  capacity?: number;
  /** Gateway CPU per forwarded packet, ns. */
  nsPerPacket?: number;
}

async function measure(
  g: Gateway,
  kind: Kind,
  seconds: number,
  cpus: Cpus | undefined,
  clock: SoftirqClock | undefined,
): Promise<Omit<Sample, "trial">> {
  const before = await uplinkTx(g.lab);
  clock?.start();
  const r = await iperf(g.lab, kind, seconds, cpus);
  const busy = clock?.stop();
  const after = await uplinkTx(g.lab);
  const packets = after.packets - before.packets;
  const amount = kind === "udp" ? packets / 1e3 : ((after.bytes - before.bytes) * 8) / 1e9;
  return {
    kind,
    variant: g.variant,
    endToEnd: r.rate,
    forwarded: amount / r.seconds,
    gatewayCpuSeconds: busy,
    capacity: busy ? amount / busy : undefined,
    nsPerPacket: busy ? (busy / packets) * 1e9 : undefined,
  };
}

/** The median of per-trial ratios a/b, with their smallest and largest. */
function pairedRatio(
  samples: Sample[],
  kind: Kind,
  a: Variant,
  b: Variant,
  metric: (s: Sample) => number | undefined,
): { median: number; min: number; max: number; n: number } {
  const ratios: number[] = [];
  for (const t of new Set(samples.map((s) => s.trial))) {
    const value = (v: Variant) => {
      const s = samples.find((x) => x.trial === t && x.kind === kind && x.variant === v);
      return s ? metric(s) : undefined;
    };
    const x = value(a);
    const y = value(b);
    if (x !== undefined && y !== undefined && y > 0) ratios.push(x / y);
  }
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), n: ratios.length };
}

const spread = (r: { median: number; min: number; max: number }) =>
  `${r.median.toFixed(3)} [${r.min.toFixed(2)}-${r.max.toFixed(2)}]`;

async function throughput(
  trials: number,
  seconds: number,
  peers: boolean,
): Promise<{ rows: Section["rows"]; notes: string[]; samples: Sample[]; peers: Record<string, unknown> }> {
  const notes: string[] = [];
  const VARIANTS: Record<Kind, Variant[]> = {
    udp: variantsFor("udp", peers),
    tcp: variantsFor("tcp", peers),
  };
  const cpus = cpuPlacement();
  let clock: SoftirqClock | undefined;
  if (cpus) {
    const c = SoftirqClock.open(cpus.gateway);
    if (typeof c === "string") notes.push(`gateway CPU time not measured: ${c}.`);
    else clock = c;
  } else notes.push("one CPU: the gateway cannot have a CPU of its own; gateway CPU time not measured.");
  const gateways: Gateway[] = [];
  const samples: Sample[] = [];
  const gw = (v: Variant) => gateways.find((g) => g.variant === v) as Gateway;
  try {
    for (const v of VARIANTS.udp) gateways.push(await gatewayLab(v, cpus));
    // warm-up: neighbour entries, first connections, caches
    for (const g of gateways) {
      if (cpus) await steerAll(g, cpus, "udp");
      await iperf(g.lab, "udp", 1, cpus);
    }
    for (let trial = 0; trial < trials; trial++)
      for (const kind of ["udp", "tcp"] as Kind[]) {
        const order = trial % 2 ? [...VARIANTS[kind]].reverse() : VARIANTS[kind];
        for (const v of order) {
          progress(`dataplane: trial ${trial + 1}/${trials}, ${kind}, ${v}`);
          if (cpus) await steerAll(gw(v), cpus, kind);
          samples.push({ trial, ...(await measure(gw(v), kind, seconds, cpus, clock)) });
        }
      }
  } finally {
    clock?.close();
    for (const g of gateways) await g.close();
  }

  const rows: Section["rows"] = [];
  const med = (kind: Kind, v: Variant, metric: (s: Sample) => number | undefined) =>
    median(
      samples
        .filter((s) => s.kind === kind && s.variant === v)
        .map(metric)
        .filter((x): x is number => x !== undefined),
    );
  /** A row generated vs `other`: medians, the per-trial ratio, and its verdict against `goal` when `target`. */
  const row = (
    label: string,
    kind: Kind,
    metric: (s: Sample) => number | undefined,
    digits: number,
    target: boolean,
    other: Variant = "plain",
    goal = 0.95,
  ) => {
    const r = pairedRatio(samples, kind, "generated", other, metric);
    rows.push([
      label,
      round(med(kind, "generated", metric), digits),
      round(med(kind, other, metric), digits),
      r.n ? spread(r) : "-",
      !target || !r.n ? "" : r.median >= goal ? "met" : "MISSED",
    ]);
    return r;
  };
  const measured = clock !== undefined && samples.some((s) => s.capacity !== undefined);
  row("64-byte UDP: gateway capacity, kpackets/s per core", "udp", (s) => s.capacity, 0, measured);
  row("64-byte UDP: through the gateway, kpackets/s", "udp", (s) => s.forwarded, 0, !measured);
  row("TCP: gateway capacity, Gbit/s per core", "tcp", (s) => s.capacity, 1, measured);
  row("TCP: throughput (iperf3), Gbit/s", "tcp", (s) => s.endToEnd, 2, !measured);
  if (measured) {
    const ns = (v: Variant) =>
      round(
        med("udp", v, (s) => s.nsPerPacket),
        0,
      );
    const r = pairedRatio(samples, "udp", "plain + rule", "plain", (s) => s.nsPerPacket);
    rows.push(["64-byte UDP: gateway CPU per packet, ns", ns("generated"), ns("plain"), "", ""]);
    const pct = (x: number) => `${x >= 1 ? "+" : ""}${round((x - 1) * 100, 0)} %`;
    const more = r.n ? `${pct(r.median)} [${pct(r.min)} to ${pct(r.max)}] per trial` : "-";
    notes.push(
      `where the generated ruleset's gateway CPU per 64-byte packet goes (medians): plain ${ns("plain")} ns; plain + one ip rule that never matches ${ns("plain + rule")} ns (${more}: the kernel's policy-routing path, which every packet takes once its namespace has held any ip rule: local and main tables looked up apart, the rule list walked for the route and again for rp_filter's source check); generated ${ns("generated")} ns (the rest: its per-packet nft chains, the mark restore in prerouting and the egress chain, and the fwmark rules walked).`,
    );
  }
  // generated vs each peer: the same measures, target >= 1.0
  const peerData: Record<string, unknown> = {};
  if (peers) {
    rows.push(["", "", "", "", ""], ["generated vs a peer", "generated", "peer", "ratio", "target >= 1.0"]);
    for (const p of PEERS) {
      const at = (label: string, kind: Kind, m: (s: Sample) => number | undefined, d: number, t: boolean) =>
        row(`vs ${p}: ${label}`, kind, m, d, t, p, 1.0);
      peerData[p] = {
        split: gw(p).split,
        udpCapacity: at(
          "64-byte UDP: gateway capacity, kpackets/s per core",
          "udp",
          (s) => s.capacity,
          0,
          measured,
        ),
        udpForwarded: at(
          "64-byte UDP: through the gateway, kpackets/s",
          "udp",
          (s) => s.forwarded,
          0,
          !measured,
        ),
        tcpCapacity: at("TCP: gateway capacity, Gbit/s per core", "tcp", (s) => s.capacity, 1, measured),
        tcpThroughput: at("TCP: throughput (iperf3), Gbit/s", "tcp", (s) => s.endToEnd, 2, !measured),
      };
      if (measured) {
        const ns = (v: Variant) =>
          round(
            med("udp", v, (s) => s.nsPerPacket),
            0,
          );
        rows.push([`vs ${p}: 64-byte UDP: gateway CPU per packet, ns`, ns("generated"), ns(p), "", ""]);
      }
    }
    notes.push(
      `peers (bench/peers.ts), each in a lab of its own, iptables-nft (Debian's iptables, nf_tables backend), weights 1:1, MASQUERADE per uplink, the lab's rp_filter 2: seed003 = seed 003's mangle PREROUTING CONNMARK --restore-mark, unmarked -> an nth pool of 2 (\`-m statistic --mode nth --every 2 --packet 0\` -> mark 1, the rest -> mark 2), POSTROUTING --save-mark, \`ip rule fwmark N lookup\` a table per link (default route + LAN route), a main default route via uplink 1; its failover flags (-m condition) left out, every link up. mwan3 = what mwan3 installs for one policy of two weight-1 members, sticky off: mwan3_hook in PREROUTING and OUTPUT (masked mark restore, mwan3_ifaces_in, the custom/connected/dynamic ipset chains, mwan3_rules -> mwan3_policy_balanced with \`-m statistic --mode random --probability 0.500\`, save, the ipset chains again), ip rules iif/fwmark/unreachable per interface, a table per interface copied from main. Spread of 20 new connections over uplinks 1/2 before the trials: ${PEERS.map((p) => `${p} ${gw(p).split ?? "-"}`).join(", ")}. ratio = generated / peer per trial: median [min-max]; target >= 1.0.`,
    );
  }
  notes.unshift(
    `plain = one \`oifname wan1 masquerade\` rule and a main default route via uplink 1, in a lab of its own that never held an ip rule; generated = the provider's table, rules and routes for 2 uplinks, nth 1:1. ${trials} trials, each one iperf3 run of ${seconds} s per variant and kind, the order reversed every other trial; ratio = generated / plain per trial: median [min-max].`,
    cpus
      ? `CPUs: the gateway's packet processing on CPU ${cpus.gateway} alone (receive packet steering of the gateway's interfaces), iperf3 client and server on CPU ${cpus.others.join(",")} (taskset), and for TCP the ISPs and inet too (steering). 64-byte UDP: sent as fast as iperf3 can (-b 0) and dropped as it arrives at the ISP (on the gateway CPU, a cost both variants share), so no CPU goes beyond the gateway; counted at the gateway's uplinks. gateway capacity = forwarded / NET_RX softirq time on the gateway CPU (irq tracepoints): what the gateway forwards per second of one core, the figure a saturated gateway shows; TCP's counts data bytes (GSO super-packets of up to 64 KiB) while the gateway also forwards the ACKs, small packets that pay the per-packet costs.`
      : "CPUs: not pinned (one CPU).",
  );
  return { rows, notes, samples, peers: peerData };
}

// --- b) rules evaluated per packet ---------------------------------------------------------------------

/** The table's listing with `counter` first in every rule (base-chain headers and blocks left as they are). */
export function countered(listing: string): string {
  let inChain = false;
  return listing
    .split("\n")
    .map((line) => {
      const t = line.trim();
      if (/^chain \S+ \{$/.test(t)) inChain = true;
      else if (t === "}") inChain = false;
      else if (inChain && t && !/^type .* hook /.test(t) && !t.startsWith("policy "))
        return line.replace(t, `counter ${t}`);
      return line;
    })
    .join("\n");
}

const sumCounters = (text: string) =>
  [...text.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);

/** Sends UDP datagrams from the LAN: `flows` flows of `per` datagrams each. Returns the seconds it took. */
async function sendUdp(lab: Lab, flows: number, per: number): Promise<number> {
  const script = `
const dgram = require("dgram");
const [dst, port, src, flows, per] = process.argv.slice(1);
const payload = Buffer.alloc(32);
(async () => {
  const t = Date.now();
  for (let f = 0; f < Number(flows); f++) {
    const s = dgram.createSocket("udp4");
    await new Promise((r) => s.bind(0, src, r));
    for (let i = 0; i < Number(per); i += 50) {
      const n = Math.min(50, Number(per) - i);
      await Promise.all(Array.from({ length: n }, () => new Promise((r) => s.send(payload, Number(port), dst, r))));
    }
    await new Promise((r) => s.close(r));
  }
  process.stdout.write(String((Date.now() - t) / 1000));
})();`;
  const r = await lab.exec(
    "lan",
    [
      process.execPath,
      "-e",
      script,
      lab.addresses.server,
      String(UDP_PORT),
      lab.addresses.clients[0],
      String(flows),
      String(per),
    ],
    { timeoutMs: 60_000, check: true },
  );
  return Number(r.stdout);
}

async function rulesPerPacket(lab: Lab, table: string): Promise<{ established: number; newFlow: number }> {
  const read = async () =>
    sumCounters((await lab.exec("gw", ["nft", "list", "table", "inet", table])).stdout);
  const forwarded = async () =>
    sumCounters((await lab.exec("gw", ["nft", "list", "table", "inet", "benchcount"])).stdout);
  const measure = async (flows: number, per: number) => {
    await lab.exec("gw", ["conntrack", "-F"]);
    const a0 = await read();
    const f0 = await forwarded();
    const seconds = await sendUdp(lab, flows, per);
    await sleep(100);
    const a1 = await read();
    const f1 = await forwarded();
    // background (the prober's probes) over the same time
    const b0 = await read();
    await sleep(Math.max(200, seconds * 1000));
    const b1 = await read();
    const background = ((b1 - b0) * seconds) / Math.max(0.2, seconds);
    return (a1 - a0 - background) / Math.max(1, f1 - f0);
  };
  return { established: await measure(1, 10_000), newFlow: await measure(2000, 1) };
}

/**
 * ip rules a packet of link K walks to its route: every rule before its fwmark rule, and that one (the
 * kernel walks the list in priority order; ip rules have no counters, so this is read off the list).
 */
function ipRulesWalked(listing: string, links: number): number {
  const prefs = listing
    .split("\n")
    .map((l) => /^(\d+):\s+from all fwmark (0x[0-9a-f]+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  const all = listing.split("\n").filter((l) => /^\d+:/.test(l));
  const walked = Array.from({ length: links }, (_, k) => {
    const mark = `0x${(0x101 + k).toString(16)}`;
    const at = prefs.find((m) => m[2] === mark);
    return at ? all.findIndex((l) => l.startsWith(`${at[1]}:`) && l.includes(mark)) + 1 : NaN;
  });
  return walked.reduce((a, b) => a + b, 0) / links;
}

interface Count {
  established: number;
  newFlow: number;
  nftRules: number;
  ipRulesWalked: number;
}

async function countAt(uplinks: number, notes: string[]): Promise<Count> {
  const lab = await createLab({ uplinks, clients: 2, label: `bench/dataplane ${uplinks}` });
  const owner = `bd${lab.id}`;
  try {
    await lab.exec("inet", ["nft", "-f", "-"], {
      check: true,
      input: `table inet benchsink {\n  chain in { type filter hook input priority 0; udp dport ${UDP_PORT} drop; }\n}\n`,
    });
    await lab.exec("gw", ["nft", "-f", "-"], {
      check: true,
      input: `table inet benchcount {\n  chain forwarded { type filter hook forward priority -500; udp dport ${UDP_PORT} counter; }\n}\n`,
    });
    await applyTolerant(lab, owner, uplinks, notes);
    const table = `lbgw_${owner}`;
    const listing = (await lab.exec("gw", ["nft", "list", "table", "inet", table], { check: true })).stdout;
    await lab.exec("gw", ["nft", "-f", "-"], {
      check: true,
      input: `delete table inet ${table}\n${countered(listing)}`,
    });
    const counted = await rulesPerPacket(lab, table);
    const ipRules = (await lab.exec("gw", ["ip", "rule", "show"], { check: true })).stdout;
    return {
      ...counted,
      nftRules: (listing.match(/^\t\t(?!type |elements|flags|typeof|policy)\S.*$/gm) ?? []).length,
      ipRulesWalked: ipRulesWalked(ipRules, uplinks),
    };
  } finally {
    await lab.destroy();
    removeOwnerFiles(owner);
  }
}

export async function benchDataPlane(): Promise<Section> {
  const notes: string[] = [];
  const data: Record<string, unknown> = {};
  const trials = Number(process.env.BENCH_DP_TRIALS ?? 5);
  const seconds = Number(process.env.BENCH_DP_SECONDS ?? 5);

  // a) throughput and packet rate: interleaved trials, gateway CPU measured
  const rows: Section["rows"] = [];
  if (await ensureBenchTools()) {
    const peers = await ensurePeerTools();
    if (!peers)
      notes.push(
        "iptables or ipset is missing and could not be installed (not root?): the peers (seed003, mwan3) not measured.",
      );
    const t = await throughput(trials, seconds, peers);
    rows.push(...t.rows);
    notes.push(...t.notes);
    data.throughput = t.samples;
    data.peers = t.peers;
  } else
    notes.push(
      "iperf3 or taskset is missing and could not be installed (not root?): throughput not measured.",
    );

  // b) rules evaluated per packet at 2, 4, 8, 16 uplinks
  const sizes = [2, 4, 8, 16];
  const perN: Record<number, Count> = {};
  for (const n of sizes) {
    progress(`dataplane: rules per packet at ${n} uplinks`);
    perN[n] = await countAt(n, notes);
  }
  data.rulesPerPacket = perN;
  const countRow = (label: string, f: (c: Count) => number) => [
    label,
    ...sizes.map((n) => round(f(perN[n]), 2)),
  ];
  const grows = perN[16].established > perN[2].established + 0.5;
  notes.push(
    `nft rules per packet: ${grows ? "GROW with the number of uplinks (target: constant) - MISSED" : "constant in the number of uplinks - met"}.`,
    "ip rules walked per packet (its fwmark rule and all before it, mean over the links) grow with the uplinks, one fwmark rule per link; a rule that does not match costs a few ns (15 more walked before the matching one measured +1 % of the gateway's CPU per 64-byte packet, within the noise).",
  );
  return {
    id: "dataplane",
    title:
      "3. Data plane on the lab (generated ruleset vs plain single-uplink masquerade and the peers seed003 and mwan3; rules evaluated per packet)",
    columns: ["measure", "generated", "plain", "ratio", "target >= 0.95"],
    rows: [
      ...rows,
      ["", "", "", "", ""],
      ["rules evaluated per packet", ...sizes.map((n) => `${n} uplinks`)],
      countRow("nft rules: established flow", (c) => c.established),
      countRow("nft rules: first packet of a new flow", (c) => c.newFlow),
      countRow("ip rules walked (route lookup)", (c) => c.ipRulesWalked),
      countRow("rules in the owned table", (c) => c.nftRules),
    ],
    notes,
    data,
  };
}
