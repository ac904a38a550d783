/**
 * The Linux backend (nftables + iproute2 over SSH): render (render.ts, prober.ts) → reconcile (apply.ts,
 * lines.ts) → session (session.ts, remote.ts).
 */
import type { Backend } from "../backends";
import type { ClaimIntent } from "../common/claim";
import type { Logger } from "../common/lock";
import type { Plan } from "../plan/plan";
import type { Spec } from "../spec/schema";
import { parseDuration } from "../spec/values";
import { applyLinux, destroyLinux, readLinux, type LinuxApplyResult } from "./apply";
import { desiredLines, linuxRules } from "./lines";
import { renderLinux } from "./render";
import type { LinuxTarget, SessionHooks } from "./session";

export interface LinuxBackendOptions {
  /** Test seam (fault injection); never set by the provider. */
  hooks?: SessionHooks;
}

/** The Backend, with the apply figures (round trips, wall time) the tests and the CLI report. */
export interface LinuxBackend extends Backend {
  apply(log: Logger, claim?: ClaimIntent): Promise<LinuxApplyResult>;
}

export function linuxTarget(spec: Pick<Spec, "target">): LinuxTarget {
  const t = spec.target.linux;
  if (!t) throw new Error("target.linux is missing");
  return {
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    privateKey: t.privateKey,
    privateKeyPassword: t.privateKeyPassword,
    agentSocketPath: t.agentSocketPath,
    hostKey: t.hostKey,
    sudo: t.sudo,
    timeoutMs: parseDuration(t.timeout) as number,
  };
}

export async function linuxBackend(
  spec: Spec,
  plan: Plan,
  opts: LinuxBackendOptions = {},
): Promise<LinuxBackend> {
  const target = linuxTarget(spec);
  const desired = renderLinux(plan);
  const hooks = opts.hooks ?? {};
  return {
    device: `linux://${target.host}:${target.port}`,
    desiredLines: () => desiredLines(desired),
    keyed: linuxRules,
    apply: (log, claim) => applyLinux(target, desired, log, hooks, claim && { claim, plan }),
    read: (log) => readLinux(target, desired, log, hooks),
    destroy: async (log, claim) => void (await destroyLinux(target, desired, log, hooks, claim)),
  };
}
