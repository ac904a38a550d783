/**
 * Lab helpers shared by the Linux benchmarks: a spec for N uplinks of a lab, the backend on it, and tools
 * (iperf3) installed from Debian like the lab's own packages.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import type { LinuxBackend } from "../provider/linux/backend";
import { linuxBackend } from "../provider/linux/backend";
import { buildPlan } from "../provider/plan/plan";
import type { Spec, SpecInput } from "../provider/spec/schema";
import { parseSpec } from "../provider/spec/schema";
import type { Lab } from "../test/support/linux-lab";
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

function which(cmd: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => fs.existsSync(`${d}/${cmd}`));
}

/**
 * iperf3 from Debian when missing (root only), as scripts/lab-deps.sh installs the lab's packages: no
 * service started (policy-rc.d), no recommends. Returns whether it is available.
 */
export async function ensureIperf3(): Promise<boolean> {
  if (which("iperf3")) return true;
  if (process.getuid?.() !== 0) return false;
  progress("installing iperf3 (apt-get)");
  const policy = "/usr/sbin/policy-rc.d";
  const created = !fs.existsSync(policy);
  if (created) fs.writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const run = (args: string[]) =>
      new Promise<number>((resolve) => {
        const p = spawn("apt-get", args, {
          env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
          stdio: ["ignore", "ignore", "inherit"],
        });
        p.on("close", (c) => resolve(c ?? 1));
        p.on("error", () => resolve(1));
      });
    if ((await run(["install", "-y", "-qq", "--no-install-recommends", "iperf3"])) !== 0) {
      await run(["update", "-qq"]);
      await run(["install", "-y", "-qq", "--no-install-recommends", "iperf3"]);
    }
  } finally {
    if (created) fs.rmSync(policy, { force: true });
  }
  return which("iperf3");
}
