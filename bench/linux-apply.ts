/**
 * Benchmark 2: the Linux backend's apply against the namespace lab's gateway over a real sshd: create (on
 * a clean gateway), no-op, one weight change. The backend reports its SSH commands (each one sequential
 * round trips: channel open, exec, stdin, exit status) and its wall time, connection included.
 */
import { createLab } from "../labs/linux-lab";
import { exampleArgs } from "../test/linux/support";
import type { Section } from "./lib";
import { median, progress, round } from "./lib";
import { backendFor, labSpec, removeOwnerFiles, silentLog } from "./lab";

export async function benchLinuxApply(opts: { repeats: number }): Promise<Section> {
  const lab = await createLab({ uplinks: 2, clients: 4, label: "bench/linux-apply" });
  const owner = `ba${lab.id}`;
  try {
    const base = await backendFor(labSpec(lab, owner, exampleArgs(lab)));
    const changed = await backendFor(labSpec(lab, owner, exampleArgs(lab, { weights: [1, 1] })));
    const runs: Record<string, Array<{ ms: number; commands: number; writes: number }>> = {
      create: [],
      "no-op": [],
      "one weight change": [],
    };
    await base.apply(silentLog); // warm-up: module loading, first sshd handshake
    for (let i = 0; i < opts.repeats; i++) {
      progress(`linux apply: round ${i + 1}/${opts.repeats}`);
      await base.destroy(silentLog);
      runs.create.push(await base.apply(silentLog));
      runs["no-op"].push(await base.apply(silentLog));
      runs["one weight change"].push(await changed.apply(silentLog));
      await base.apply(silentLog);
    }
    await base.destroy(silentLog);
    const rows = Object.entries(runs).map(([name, r]) => [
      name,
      round(median(r.map((x) => x.ms)), 0),
      median(r.map((x) => x.commands)),
      median(r.map((x) => x.writes)),
      `${Math.min(...r.map((x) => x.ms))}..${Math.max(...r.map((x) => x.ms))}`,
    ]);
    return {
      id: "linux-apply",
      title: `2. Linux apply over SSH (namespace lab, linux-weighted-failover example; median of ${opts.repeats})`,
      columns: ["operation", "wall ms", "SSH commands", "writes", "range ms"],
      rows,
      notes: [
        "SSH commands = round trips of the operation (each a sequential exec on one connection; reads included): read, then only the parts that differ (ip -batch, sysctls, nft -f, prober), then a verify read.",
        "wall ms includes the SSH connection (TCP + key exchange + auth) and the prober's restart on create and on a weight change; the lab's management link has no added latency.",
      ],
      data: runs,
    };
  } finally {
    await lab.destroy();
    removeOwnerFiles(owner);
  }
}
