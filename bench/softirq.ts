/**
 * The CPU time one CPU spends in packet processing, to the microsecond: NET_RX softirq time on that CPU,
 * from the kernel's irq:softirq_entry / irq:softirq_exit tracepoints recorded in a tracefs instance of
 * our own (other tracing users are not disturbed; the instance is removed on close). Needs root and
 * tracefs; mounts tracefs on /sys/kernel/tracing when nothing is mounted there (and leaves it mounted).
 *
 * Without IRQ time accounting (most distribution kernels) /proc/stat's softirq column is sampled at the
 * tick, and a tickless CPU that wakes for a short burst of packets is hardly ever sampled: it reads a
 * fraction of the real time. The tracepoints time every softirq run.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";

const TRACEFS = "/sys/kernel/tracing";
/** NET_RX_SOFTIRQ in include/linux/interrupt.h */
const NET_RX = 3;
const EVENTS = ["softirq_entry", "softirq_exit"];

export class SoftirqClock {
  private constructor(
    private readonly dir: string,
    readonly cpu: number,
  ) {}

  /** A clock for `cpu`, or why there is none. */
  static open(cpu: number): SoftirqClock | string {
    if (process.getuid?.() !== 0) return "not root";
    try {
      if (!fs.existsSync(`${TRACEFS}/instances`))
        execFileSync("mount", ["-t", "tracefs", "nodev", TRACEFS], { stdio: "ignore" });
      const dir = `${TRACEFS}/instances/lbgw-bench-${process.pid}`;
      if (!fs.existsSync(dir)) fs.mkdirSync(dir);
      const clock = new SoftirqClock(dir, cpu);
      clock.write("tracing_on", "0");
      // ~40 bytes an event; a 5 s sample makes some 10^5 of them. Only the measured CPU's buffer is large.
      clock.write("buffer_size_kb", "64");
      clock.write(`per_cpu/cpu${cpu}/buffer_size_kb`, "32768");
      clock.write("tracing_cpumask", cpuMask([cpu]));
      for (const e of EVENTS) {
        clock.write(`events/irq/${e}/filter`, `vec == ${NET_RX}`);
        clock.write(`events/irq/${e}/enable`, "1");
      }
      return clock;
    } catch (e) {
      return `tracefs not usable: ${(e as Error).message}`;
    }
  }

  private write(file: string, value: string): void {
    fs.writeFileSync(`${this.dir}/${file}`, value);
  }

  start(): void {
    this.write("trace", "");
    this.write("tracing_on", "1");
  }

  /** Seconds of NET_RX softirq on the CPU since start(); undefined when the buffer lost events. */
  stop(): number | undefined {
    this.write("tracing_on", "0");
    const stats = fs.readFileSync(`${this.dir}/per_cpu/cpu${this.cpu}/stats`, "utf8");
    if (/^(overrun|dropped events): [1-9]/m.test(stats)) return undefined;
    const text = fs.readFileSync(`${this.dir}/trace`, "utf8");
    let busy = 0;
    let entered: number | undefined;
    for (const m of text.matchAll(/ (\d+\.\d+): softirq_(entry|exit): vec=/g)) {
      const t = Number(m[1]);
      if (m[2] === "entry") entered = t;
      else if (entered !== undefined) {
        busy += t - entered;
        entered = undefined;
      }
    }
    this.write("trace", "");
    return busy;
  }

  close(): void {
    try {
      this.write("tracing_on", "0");
      for (const e of EVENTS) this.write(`events/irq/${e}/enable`, "0");
      fs.rmdirSync(this.dir);
    } catch {
      // already gone
    }
  }
}

/** A CPU list as the kernel's hex mask form (32-bit groups separated by commas), e.g. [1] -> "2". */
export function cpuMask(cpus: number[]): string {
  const bits = cpus.reduce((m, c) => m | (1n << BigInt(c)), 0n);
  const hex = bits.toString(16);
  const groups: string[] = [];
  for (let end = hex.length; end > 0; end -= 8) groups.unshift(hex.slice(Math.max(0, end - 8), end));
  return groups.join(",");
}
