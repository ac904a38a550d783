/**
 * Benchmark 5: one stack of 100 gateways. 100 RouterOS API simulators run in this process (no injected
 * latency), the program bench/scale/index.ts declares one LoadBalancedGateway per simulator, and the real
 * Pulumi CLI (scripts/ensure-pulumi.sh, the harness of test/engine/support.ts, a private file:// backend)
 * runs preview, up, a second up (no changes) and destroy. While the engine runs, the dynamic-provider
 * process (node .../@pulumi/pulumi/cmd/dynamic-provider) is polled for its peak resident memory (VmHWM).
 *
 * The program runs from a copy under bench/results/ (ignored by git) whose node_modules links the package,
 * as the examples do; the engine loads the compiled package (dist/), so `npm run build` first.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { RouterOsSim } from "../labs/routeros-sim";
import { seedRouter } from "../test/routeros/support";
import { menusOf } from "../test/routeros/support";
import { Engine, REPO } from "../test/engine/support";
import type { Section } from "./lib";
import { progress, round } from "./lib";

const GATEWAYS = Number(process.env.BENCH_SCALE_GATEWAYS ?? 100);
const PASSWORD = "s3cret";

/** Peak VmHWM (kB) of every dynamic-provider process seen while polling. */
function providerMemoryPoller(): { stop(): { peakKb: number; pids: number } } {
  const peak = new Map<number, number>();
  const poll = () => {
    for (const d of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8");
        if (!cmd.includes("dynamic-provider")) continue;
        const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${d}/status`, "utf8"))?.[1];
        if (hwm) peak.set(Number(d), Math.max(peak.get(Number(d)) ?? 0, Number(hwm)));
      } catch {
        // the process ended meanwhile
      }
    }
  };
  const timer = setInterval(poll, 200);
  return {
    stop() {
      clearInterval(timer);
      return { peakKb: Math.max(0, ...peak.values()), pids: peak.size };
    },
  };
}

function programCopy(): string {
  const dir = path.join(__dirname, "results", "scale-program");
  fs.mkdirSync(path.join(dir, "node_modules"), { recursive: true });
  for (const f of ["Pulumi.yaml", "index.ts", "tsconfig.json", "package.json"])
    fs.copyFileSync(path.join(__dirname, "scale", f), path.join(dir, f));
  const link = path.join(dir, "node_modules", "pulumi-loadbalanced-gateway");
  if (!fs.existsSync(link)) fs.symlinkSync(REPO, link, "dir");
  for (const f of ["dist/sdk/index.js", "dist/provider/index.js"])
    if (!fs.existsSync(path.join(REPO, f)))
      throw new Error(`scale: ${f} is missing: run \`npm run build\` (scripts/setup.sh does) first`);
  return dir;
}

export async function benchScale(): Promise<Section> {
  const dir = programCopy();
  progress(`scale: starting ${GATEWAYS} simulators`);
  const sims: RouterOsSim[] = [];
  let engine: Engine | undefined;
  try {
    for (let i = 0; i < GATEWAYS; i++) sims.push(await seedRouter("7.16.2"));
    progress("scale: ensuring the Pulumi CLI");
    engine = await Engine.create();
    const stack = await engine.stack(dir, "scale");
    await stack.setAll({ ports: JSON.stringify(sims.map((s) => s.port)) }, { password: PASSWORD });
    const steps: Array<[string, number, number]> = [];
    const timed = async (name: string, run: () => Promise<{ ms: number }>) => {
      progress(`scale: pulumi ${name}`);
      const poller = providerMemoryPoller();
      const r = await run();
      const mem = poller.stop();
      steps.push([name, r.ms, mem.peakKb]);
    };
    await timed("preview", () => stack.preview());
    await timed("up", () => stack.up());
    const ownedCount = () =>
      sims.reduce(
        (n, s) =>
          n +
          menusOf(s).reduce(
            (m, menu) => m + s.entries(menu).filter((e) => (e.comment ?? "").startsWith("lbgw:")).length,
            0,
          ),
        0,
      );
    const entries = ownedCount();
    const writesAfterUp = sims.reduce((n, s) => n + s.stats().writes, 0);
    await timed("up (no changes)", () => stack.up("up again"));
    const writesAgain = sims.reduce((n, s) => n + s.stats().writes, 0) - writesAfterUp;
    await timed("destroy", () => stack.destroy());
    const left = ownedCount();
    const peak = Math.max(...steps.map((s) => s[2]));
    return {
      id: "scale",
      title: `5. Scale: one stack of ${GATEWAYS} gateways (${GATEWAYS} simulators in the benchmark process, real Pulumi engine)`,
      columns: ["pulumi", "wall s", "per gateway ms", "provider peak RSS MiB"],
      rows: steps.map(([name, ms, kb]) => [
        name,
        round(ms / 1000, 1),
        round(ms / GATEWAYS, 0),
        kb ? round(kb / 1024, 0) : null,
      ]),
      notes: [
        `after up: ${entries} owned entries on the simulators (${round(entries / GATEWAYS, 0)} per gateway), ${writesAfterUp} device writes; the second up wrote ${writesAgain}; after destroy ${left} owned entries remain.`,
        `provider peak memory: ${round(peak / 1024, 0)} MiB, the highest VmHWM of the dynamic-provider process (node @pulumi/pulumi/cmd/dynamic-provider) polled every 200 ms; each pulumi command starts its own.`,
        "wall s = the whole CLI command (engine start, program run, TypeScript compile of the program, provider calls).",
      ],
      data: { steps, entries, writesAfterUp, writesAgain, left },
    };
  } finally {
    await engine?.dispose();
    for (const s of sims) await s.close();
  }
}
