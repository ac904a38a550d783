/**
 * One interface per device kind; the provider only talks to this. Each backend folder has the same shape:
 * render (plan → desired device state), reconcile/apply (only owned state), session (the transport).
 */
import type { Logger } from "./common/lock";
import type { Rules } from "./common/rules";
import type { Plan } from "./plan/plan";
import type { Spec } from "./spec/schema";
import { parseDuration } from "./spec/values";
import type { RouterOsDevice } from "./routeros/backend";
import { defaultPort } from "./routeros/session";

export interface Backend {
  /** Stable identity of the device (a change of device means replacing the resource). */
  device: string;
  /** Rule lines the plan renders to, exactly as `read` reports them when the device matches. */
  desiredLines(): string[];
  /** Lines keyed by the identity of the object each describes (the provider's `rules` output). */
  keyed(lines: string[]): Rules;
  apply(log: Logger): Promise<{ rules: string[]; writes: number }>;
  read(log: Logger): Promise<string[]>;
  destroy(log: Logger): Promise<void>;
}

export async function backendFor(spec: Spec, plan: Plan): Promise<Backend> {
  if (spec.target.routeros) {
    const t = spec.target.routeros;
    const device: RouterOsDevice = {
      host: t.host,
      port: t.port,
      username: t.username,
      password: t.password,
      tls: t.tls,
      timeoutMs: parseDuration(t.timeout) as number,
      version: t.version,
    };
    const ros = await import("./routeros/backend");
    const { renderRouterOs } = await import("./routeros/render");
    return {
      device: `routeros://${t.host}:${defaultPort(t)}`,
      desiredLines: () => ros.desiredRouterOsLines(plan, t.version),
      keyed: (lines) => ros.routerOsRules(lines),
      apply: (log) => ros.applyRouterOs(device, plan.owner, renderRouterOs(plan, t.version), log),
      read: (log) => ros.readRouterOs(device, plan.owner, log),
      destroy: async (log) => void (await ros.destroyRouterOs(device, plan.owner, log)),
    };
  }
  const linux = await import("./linux/backend");
  return linux.linuxBackend(spec, plan);
}
