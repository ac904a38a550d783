/**
 * Live link status of a Linux gateway: one fixed script (STATUS_SCRIPT, owner on stdin), read-only. Up/down,
 * since and the last probe from the prober's status file; connections per ct mark; sticky users per mark
 * from the nft `sticky` map.
 */
import type { GatewayStatus, LinkStatus } from "../common/status";
import { isoFromEpoch } from "../common/status";
import type { Plan } from "../plan/plan";
import { linkMark } from "./ids";
import { frame, script, STATUS_SCRIPT, unframe } from "./remote";
import type { LinuxTarget, SessionHooks } from "./session";
import { LinuxSession } from "./session";

/** The script's output → status (pure: unit-testable without a gateway). */
export function parseLinuxStatus(plan: Plan, device: string, output: string): GatewayStatus {
  const sec = unframe(output);
  const now = isoFromEpoch(sec.get("now")?.trim()) ?? new Date().toISOString();
  const notes: string[] = [];
  const words = (name: string) =>
    (sec.get(name) ?? "")
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w[0] !== "");
  const status = new Map(words("status").map((w) => [w[0], w]));
  const state = new Map(words("state").map((w) => [w[0], w[1]]));
  const prober = new Map(words("prober").map((w) => [w[0], w[1]]));
  if (prober.get("table") !== "yes") notes.push(`table lbgw_${plan.owner} is not on the gateway`);
  if (prober.get("running") !== "yes")
    notes.push("the prober is not running: up/down is its last record, not live");

  const ctText = sec.get("ct") ?? "";
  const ctUnavailable = ctText.trim() === "unavailable";
  if (ctUnavailable) notes.push("neither conntrack(8) nor /proc/net/nf_conntrack: connections not counted");
  const perMark = new Map<number, number>();
  for (const w of words("ct")) if (/^\d+$/.test(w[0])) perMark.set(Number(w[0]), Number(w[1]));

  const sticky = stickyPerMark(sec.get("sticky") ?? "");
  if (plan.sticky && !sticky) notes.push("the sticky map could not be read (nft without JSON support?)");

  const links: LinkStatus[] = plan.links.map((l) => {
    const st = status.get(l.name);
    const upWord = st?.[1] ?? state.get(l.name);
    const last = st?.[3];
    return {
      link: l.name,
      interface: l.interface,
      up: upWord === "1" ? true : upWord === "0" ? false : null,
      since: isoFromEpoch(st?.[2]),
      lastProbe: last === "1" ? "ok" : last === "0" ? "failed" : null,
      connections: ctUnavailable ? null : (perMark.get(linkMark(l)) ?? 0),
      stickyUsers: plan.sticky && sticky ? (sticky.get(linkMark(l)) ?? 0) : null,
      source: "prober",
    };
  });
  return { device, owner: plan.owner, readAt: now, links, notes };
}

/** `nft -j list map … sticky` → users per mark (the map's data); undefined when there is no map. */
function stickyPerMark(json: string): Map<number, number> | undefined {
  if (!json.trim()) return undefined;
  const counts = new Map<number, number>();
  try {
    const doc = JSON.parse(json) as { nftables?: Array<{ map?: { elem?: unknown[] } }> };
    for (const item of doc.nftables ?? []) {
      for (const e of item.map?.elem ?? []) {
        // Each element is [key, value]; the value is the link's mark (a number).
        const value = Array.isArray(e) ? (e[1] as unknown) : undefined;
        if (typeof value === "number") counts.set(value, (counts.get(value) ?? 0) + 1);
      }
    }
  } catch {
    return undefined;
  }
  return counts;
}

/** The STATUS_SCRIPT's "targets" section: every check target once. */
export const statusTargets = (plan: Plan): string =>
  [...new Set(plan.links.flatMap((l) => l.check.targets))].map((t) => `${t}\n`).join("");

/** Reads the status over one SSH session; read-only (no lock, no write). */
export async function readLinuxStatus(
  target: LinuxTarget,
  plan: Plan,
  hooks: SessionHooks = {},
): Promise<GatewayStatus> {
  const session = await LinuxSession.open(target, hooks);
  try {
    const out = await session.check("reading the link status", script(STATUS_SCRIPT), {
      input: frame({ owner: plan.owner, targets: statusTargets(plan) }),
    });
    return parseLinuxStatus(plan, `linux://${target.host}:${target.port}`, out);
  } finally {
    session.close();
  }
}
