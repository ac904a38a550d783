/**
 * The demo (`npm run demo`, i.e. scripts/demo.sh, which installs what is needed first):
 *
 *   as root:  the Linux variant: a namespace lab (gateway, 2 ISPs, a LAN, a server), `pulumi up` of
 *             examples/linux-weighted-failover against it over SSH, real connections from 8 LAN clients,
 *             an upstream failure beyond the first hop, failover and recovery, destroy, lab removed.
 *   not root (or --routeros):  the RouterOS variant: the same story against the RouterOS API simulator with
 *             examples/routeros-nth-sticky, traffic through the packet-path evaluator.
 *
 * Prints a per-uplink table, writes demo-output/chart.svg and demo-output/summary.json, cleans up on
 * success, on failure and on Ctrl-C. Exit 0 when everything it checks held, 1 otherwise, 130 on Ctrl-C.
 */
import * as path from "node:path";
import { Cleanup } from "./cleanup";
import type { DemoContext, VariantResult } from "./context";
import { Engine, pulumiBinDir, REPO, sweepStaleRuns } from "./pulumi";
import { writeOutputs } from "./report";
import { bold, cyan, fail, green, note, ok, pct, phase, red, secs, setPhaseCount, step, warn } from "./ui";

const USAGE = `usage: npm run demo [-- OPTIONS]     (or: bash scripts/demo.sh [OPTIONS])

  --routeros   the RouterOS variant (simulator + packet-path evaluator), also as root
  --linux      the Linux variant (needs root); the default as root
  --sticky     Linux variant: keep each LAN client on one uplink (the example's sticky config)
  --out DIR    where chart.svg and summary.json go (default: demo-output/ in the repository)
  -h, --help   this text`;

interface Args {
  variant?: "linux" | "routeros";
  sticky: boolean;
  outDir: string;
  help: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sticky: false, outDir: path.join(REPO, "demo-output"), help: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === "--routeros" || x === "--linux") a.variant = x === "--linux" ? "linux" : "routeros";
    else if (x === "--sticky") a.sticky = true;
    else if (x === "--out" && argv[i + 1]) a.outDir = path.resolve(argv[++i]);
    else if (x === "-h" || x === "--help") a.help = true;
    else throw new Error(`unknown option ${x}\n${USAGE}`);
  }
  return a;
}

/** Why the Linux variant cannot run here, or undefined when it can. */
function linuxUnavailable(): string | undefined {
  if (process.platform !== "linux") return `this is ${process.platform}, the lab needs Linux`;
  if (process.getuid?.() !== 0)
    return "not running as root: the Linux lab needs root (network namespaces, veth pairs, nftables, sshd)";
  return undefined;
}

function printSummary(
  r: VariantResult,
  files: { chartPath: string; summaryPath: string },
  totalMs: number,
): boolean {
  phase("Summary");
  const f = r.figures;
  const h = f.healthy;
  step(`${bold("variant")}   ${r.variant}: ${r.target}`);
  step(`${bold("example")}   ${r.example}`);
  step(
    `${bold("shares")}    ${r.driver.uplinks.map((u, i) => `${u.name} ${pct(h.shares[i])} (expected ${pct(h.expected[i])})`).join(", ")}`,
  );
  const clock = r.driver.clockLabel.includes("simulated") ? " (simulated clock)" : "";
  step(
    `${bold("failover")}  ${f.failoverMs === undefined ? red("not observed") : `${secs(f.failoverMs)} after the upstream failure${clock}`}` +
      `, ${f.lostDuringDetection} connections lost meanwhile`,
  );
  step(
    `${bold("recovery")}  ${
      f.recoveryMs !== undefined
        ? `${secs(f.recoveryMs)} after the upstream came back${clock}`
        : f.noRecoveryBecause
          ? "not expected: sticky users stay on the uplink they moved to"
          : red("not observed")
    }`,
  );
  step(`${bold("chart")}     ${path.relative(process.cwd(), files.chartPath) || files.chartPath}`);
  step(`${bold("summary")}   ${path.relative(process.cwd(), files.summaryPath) || files.summaryPath}`);
  console.log("");
  for (const v of r.verdicts) (v.ok ? ok : fail)(`${v.what}: ${v.detail}`);
  const allOk = r.verdicts.every((v) => v.ok);
  console.log("");
  const verdict = allOk ? green(bold("demo passed")) : red(bold("demo FAILED: see the ✘ lines above"));
  step(
    `${verdict} in ${secs(totalMs)}; nothing is left behind (stack, ${r.variant === "linux" ? "lab" : "simulator"}, temporary files removed)`,
  );
  return allOk;
}

async function main(): Promise<number> {
  const started = Date.now();
  // output piped into something that died (`npm run demo | tee log`, then Ctrl-C): keep going and clean up
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  const interrupted = () => cleanup.interrupted !== undefined;

  let variant: "linux" | "routeros";
  let why: string;
  const unavailable = linuxUnavailable();
  if (args.variant === "routeros") {
    variant = "routeros";
    why = "--routeros was given";
  } else if (unavailable) {
    if (args.variant === "linux") throw new Error(`--linux: ${unavailable}`);
    variant = "routeros";
    why = `${unavailable}.\nRunning the RouterOS variant instead: the RouterOS API simulator and the packet-path evaluator, no root needed.`;
  } else {
    variant = "linux";
    why = "running as root: a real Linux gateway in network namespaces (use --routeros for the simulator)";
  }
  console.log(
    bold(
      cyan(
        `\npulumi-loadbalanced-gateway demo: ${variant === "linux" ? "Linux gateway lab" : "RouterOS simulator"}`,
      ),
    ),
  );
  for (const l of why.split("\n")) console.log(`  ${l}`);
  setPhaseCount(10);

  try {
    phase("Preflight");
    const bin = pulumiBinDir();
    const swept = sweepStaleRuns();
    if (swept.length) warn(`removed what ${swept.length} killed earlier run(s) left: ${swept.join(", ")}`);
    const engine = Engine.create(bin, cleanup);
    ok(`node ${process.version}; ${await engine.version()} (${bin})`);
    note(`state: a private file:// backend in ${engine.root} (removed at the end)`);
    const ctx: DemoContext = {
      opts: { sticky: args.sticky, outDir: args.outDir },
      cleanup,
      engine,
      interrupted,
    };

    const result: VariantResult =
      variant === "linux"
        ? await (await import("./linux")).runLinux(ctx)
        : await (await import("./routeros")).runRouterOs(ctx);
    const chart =
      variant === "linux"
        ? {
            title: "Connections per uplink: Linux gateway (namespace lab), weighted 3:1 with failover",
            xLabel: "time since the first round (s)",
          }
        : {
            title: `Connections per uplink: RouterOS (simulator), nth 3:1, sticky users, failover`,
            xLabel: "time since the first round (s, the packet-path evaluator's simulated clock)",
          };
    const d = result.driver;
    const failedName = d.uplinks[result.run.events.failedUplink].name;
    const chartOpts = {
      ...chart,
      subtitle: [
        `${result.example}: ${d.clients.length} LAN clients × ${d.connectionsPerClient} connections every ` +
          `${d.periodMs} ms${variant === "routeros" ? " (simulated)" : ""}, ` +
          `${d.uplinks.map((u) => `${u.name} weight ${u.weight}`).join(", ")}`,
        `${failedName}'s ISP drops everything beyond its first hop (the link stays up), later forwards again`,
      ],
      footer: `pulumi-loadbalanced-gateway demo, ${result.target}, ${new Date().toISOString().slice(0, 19)}Z`,
    };
    let files = writeOutputs(args.outDir, result, chartOpts);
    ok(
      `chart written to ${path.relative(process.cwd(), files.chartPath)}, figures to ${path.relative(process.cwd(), files.summaryPath)}`,
    );
    await result.finish();
    result.timings.totalMs = Date.now() - started;
    files = writeOutputs(args.outDir, result, chartOpts); // again, with the destroy's verdicts and timings
    await cleanup.run(false);
    return printSummary(result, files, Date.now() - started) ? 0 : 1;
  } catch (e) {
    if (interrupted()) return new Promise<number>(() => undefined); // the signal handler cleans up and exits
    console.log("");
    fail(`${(e as Error).message}`);
    if ((e as { output?: string }).output === undefined && (e as Error).stack)
      note((e as Error).stack?.split("\n").slice(1, 6).join("\n") ?? "");
    warn("cleaning up after the failure");
    await cleanup.run(false);
    fail(red(bold("demo FAILED")));
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    // the lab's agents, timers of clients: nothing of ours should keep the process, but do not wait for them
    setTimeout(() => process.exit(code), 200).unref();
  },
  (e: Error) => {
    console.error(`${red("demo:")} ${e.message}`);
    process.exit(2);
  },
);
