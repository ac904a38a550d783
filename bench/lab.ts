/**
 * Lab helpers shared by the Linux benchmarks: a spec for N uplinks of a lab, the backend on it, and tools
 * (iperf3, taskset) installed from Debian with the lab's own packages.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { LinuxBackend } from "../provider/linux/backend";
import { linuxBackend } from "../provider/linux/backend";
import { buildPlan } from "../provider/plan/plan";
import type { Spec, SpecInput } from "../provider/spec/schema";
import { parseSpec } from "../provider/spec/schema";
import type { Lab } from "../labs/linux-lab";
import { childEnv, findTool } from "../labs/linux-lab/proc";
import { progress } from "./lib";

export const silentLog = (m: string) => void m;

/** The lab's gateway as a LoadBalancedGateway spec: `uplinks` links (all of the lab's by default). */
export function labSpec(lab: Lab, owner: string, over: Partial<SpecInput> = {}, uplinks?: number): Spec {
  const a = lab.addresses;
  const r = parseSpec({
    owner,
    target: {
      linux: {
        host: lab.ssh.host,
        port: lab.ssh.port,
        privateKey: lab.ssh.privateKey,
        hostKey: lab.ssh.hostKey,
        timeout: "30s",
      },
    },
    lan: { interfaces: [a.lanIface], networks: [a.lanNet] },
    links: a.uplinks.slice(0, uplinks ?? a.uplinks.length).map((u, i) => ({
      name: `link${i + 1}`,
      interface: u.iface,
      gateway: u.gateway,
      check: { targets: [u.probeTarget] },
    })),
    ...over,
  });
  if (!r.ok) throw new Error(`bench spec rejected: ${JSON.stringify(r.failures)}`);
  return r.spec;
}

export const backendFor = (s: Spec): Promise<LinuxBackend> => linuxBackend(s, buildPlan(s));

/** The gateway's files live on the shared filesystem: remove what a failed run may leave. */
export function removeOwnerFiles(owner: string): void {
  for (const dir of [`/usr/local/lib/lbgw/${owner}`, `/run/lbgw/${owner}`])
    fs.rmSync(dir, { recursive: true, force: true });
}

const BENCH_TOOLS = ["iperf3", "taskset"];

/**
 * Debian tools the benchmarks need, installed by scripts/lab-deps.sh (with the lab's packages, root only)
 * when missing. Returns whether they are all available.
 */
export async function ensureLabTools(tools: readonly string[]): Promise<boolean> {
  if (tools.every((t) => findTool(t))) return true;
  if (process.getuid?.() !== 0) return false;
  progress(`installing ${tools.filter((t) => !findTool(t)).join(", ")} (scripts/lab-deps.sh)`);
  const script = path.join(__dirname, "..", "scripts", "lab-deps.sh");
  await new Promise<void>((resolve) => {
    const p = spawn("bash", [script], { env: childEnv(), stdio: ["ignore", process.stderr, "inherit"] });
    p.on("close", () => resolve());
    p.on("error", () => resolve());
  });
  return tools.every((t) => findTool(t));
}

/** The benchmarks' traffic tools: iperf3, and taskset to pin it. */
export const ensureBenchTools = (): Promise<boolean> => ensureLabTools(BENCH_TOOLS);
