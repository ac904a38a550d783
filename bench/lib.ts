/**
 * What every benchmark shares: the machine line, sections of a table (printed and kept as JSON), medians,
 * and a quiet provider (its progress lines go to stderr; a benchmark prints only its table).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";

export interface Machine {
  nproc: number;
  cpu: string;
  kernel: string;
  node: string;
  memGiB: number;
  os: string;
}

export function machine(): Machine {
  const cpu =
    /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ??
    os.cpus()[0]?.model ??
    "unknown";
  let distro = os.type();
  try {
    distro = /PRETTY_NAME="([^"]*)"/.exec(fs.readFileSync("/etc/os-release", "utf8"))?.[1] ?? distro;
  } catch {
    // not Linux-like
  }
  return {
    nproc: os.availableParallelism(),
    cpu,
    kernel: os.release(),
    node: process.version,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: distro,
  };
}

export const machineLine = (m: Machine) =>
  `machine: ${m.nproc} cores (nproc), ${m.cpu}, ${m.memGiB} GiB, kernel ${m.kernel}, ${m.os}, node ${m.node}`;

export type Cell = string | number | boolean | null;

export interface Section {
  id: string;
  title: string;
  columns: string[];
  rows: Cell[][];
  /** Definitions, targets and their verdicts, reference numbers with their sources. */
  notes: string[];
  /** Machine-readable figures beyond the table (raw samples, counts). */
  data?: Record<string, unknown>;
}

function show(c: Cell): string {
  if (c === null) return "-";
  if (typeof c === "number") return Number.isInteger(c) ? String(c) : c.toFixed(c < 10 ? 2 : 1);
  return String(c);
}

export function formatSection(s: Section): string {
  const cells = [s.columns, ...s.rows.map((r) => r.map(show))];
  const widths = s.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  // numbers right-aligned, text left-aligned
  const numeric = s.columns.map((_, i) =>
    s.rows.every((r) => r[i] === null || r[i] === "" || typeof r[i] === "number"),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  const out = [`## ${s.title}`, line(cells[0]), widths.map((w) => "-".repeat(w)).join("  ")];
  out.push(...cells.slice(1).map(line));
  if (s.notes.length) out.push(...s.notes.map((n) => `  ${n}`));
  return out.join("\n");
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs `work` with the provider's "lbgw: ..." progress lines on stderr swallowed. */
export async function quietly<T>(work: () => Promise<T>): Promise<T> {
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) =>
    typeof chunk === "string" && chunk.startsWith("lbgw: ")
      ? true
      : (original as (...a: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stderr.write;
  try {
    return await work();
  } finally {
    process.stderr.write = original;
  }
}

export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function commandOutput(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
