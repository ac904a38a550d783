/**
 * `npm run bench`: every benchmark of issue 5, one after the other, bounded in time (a few minutes on
 * 2 cores). Prints the machine and one table per benchmark; writes bench/results/latest.json.
 *
 *   npx tsx bench/run.ts                    # everything (the lab parts need root)
 *   npx tsx bench/run.ts routeros linux     # only some: routeros linux dataplane failover scale
 *   BENCH_REPEATS=3 npx tsx bench/run.ts    # fewer repetitions
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Section } from "./lib";
import { formatSection, machine, machineLine, progress } from "./lib";

const ALL = ["routeros", "linux", "dataplane", "failover", "scale"] as const;
type Name = (typeof ALL)[number];

async function runOne(name: Name, repeats: number): Promise<Section> {
  switch (name) {
    case "routeros":
      return (await import("./routeros")).benchRouterOs({ repeats });
    case "linux":
      return (await import("./linux-apply")).benchLinuxApply({ repeats });
    case "dataplane":
      return (await import("./dataplane")).benchDataPlane();
    case "failover":
      return (await import("./failover")).benchFailover({ trials: repeats });
    case "scale":
      return (await import("./scale")).benchScale();
    default:
      throw new Error(`unknown benchmark ${name}`);
  }
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const unknown = asked.filter((a) => !(ALL as readonly string[]).includes(a));
  if (unknown.length)
    throw new Error(`unknown benchmark(s) ${unknown.join(", ")}; choose from ${ALL.join(" ")}`);
  const names = (asked.length ? asked : ALL) as Name[];
  const repeats = Number(process.env.BENCH_REPEATS ?? 5);
  const m = machine();
  const started = Date.now();
  const sections: Section[] = [];
  const errors: string[] = [];
  for (const name of names) {
    progress(`${name}: starting`);
    const t = Date.now();
    try {
      const s = await runOne(name, repeats);
      sections.push(s);
      progress(`${name}: done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } catch (e) {
      errors.push(`${name}: ${(e as Error).stack ?? e}`);
      progress(`${name}: FAILED: ${(e as Error).message}`);
    }
  }
  const out = [machineLine(m), "", ...sections.map((s) => formatSection(s) + "\n")];
  if (errors.length) out.push("## errors", ...errors);
  out.push(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(out.join("\n") + "\n");
  const dir = path.join(__dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "latest.json"),
    JSON.stringify({ machine: m, startedAt: new Date(started).toISOString(), sections, errors }, null, 2) +
      "\n",
  );
  process.exitCode = errors.length ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
