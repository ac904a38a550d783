/** Console output of the demo: phase headers, steps, indented sub-process output, tables. */

const useColour = process.stdout.isTTY && !process.env.NO_COLOR && process.env.TERM !== "dumb";
const paint = (code: string) => (s: string) => (useColour ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = paint("1");
export const dim = paint("2");
export const red = paint("31");
export const green = paint("32");
export const yellow = paint("33");
export const cyan = paint("36");

const started = Date.now();
let phaseNo = 0;
let phaseTotal = 0;

/** Seconds since the demo started, as "[  12.3s]". */
export function clock(): string {
  return dim(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s]`);
}

export function setPhaseCount(n: number): void {
  phaseTotal = n;
  phaseNo = 0;
}

export function phase(title: string): void {
  phaseNo++;
  const label = phaseTotal ? `${phaseNo}/${phaseTotal} ` : "";
  const text = `━━ ${label}${title} `;
  console.log(`\n${bold(cyan(text.padEnd(100, "━")))}`);
}

export function step(text: string): void {
  console.log(`${clock()} ${text}`);
}

export function ok(text: string): void {
  console.log(`${clock()} ${green("✔")} ${text}`);
}

export function warn(text: string): void {
  console.log(`${clock()} ${yellow("!")} ${text}`);
}

export function fail(text: string): void {
  console.log(`${clock()} ${red("✘")} ${text}`);
}

/** A line of explanation under a step. */
export function note(text: string): void {
  for (const line of text.split("\n")) console.log(`           ${dim(line)}`);
}

/** Output of a sub-process (the Pulumi CLI), indented under the step that runs it. */
export function subOutput(line: string): void {
  console.log(`           ${dim("│")} ${line}`);
}

/** Left-aligned first column, right-aligned numbers: a plain text table. */
export function table(headers: string[], rows: string[][], align?: Array<"l" | "r">): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const a = align ?? headers.map((_, i) => (i === 0 ? "l" : "r"));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (a[i] === "l" ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("   ");
  const rule = widths.map((w) => "─".repeat(w)).join("───");
  return [fmt(headers), rule, ...rows.map(fmt)];
}

export function printTable(headers: string[], rows: string[][], align?: Array<"l" | "r">): void {
  for (const line of table(headers, rows, align)) console.log(`           ${line}`);
}

export const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
export const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
