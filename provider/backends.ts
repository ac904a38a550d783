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
import type { ClaimIntent } from "./common/claim";
import { LinuxTargetSchema, RouterOsTargetSchema } from "./spec/schema";
import { defaultPort } from "./routeros/session";

export interface Backend {
  /** Stable identity of the device (a change of device means replacing the resource). */
  device: string;
  /** Rule lines the plan renders to, exactly as `read` reports them when the device matches. */
  desiredLines(): string[];
  /** Lines keyed by the identity of the object each describes (the provider's `rules` output). */
  keyed(lines: string[]): Rules;
  /** With `claim`, refuses an owner held by another instance and checks the spec against the device first. */
  apply(log: Logger, claim?: ClaimIntent): Promise<{ rules: string[]; writes: number }>;
  read(log: Logger): Promise<string[]>;
  /** With `claim`, removes nothing where another instance holds the owner. */
  destroy(log: Logger, claim?: ClaimIntent): Promise<void>;
}

/**
 * The device a target names, as the `device` output spells it; undefined while any part of the target is
 * unknown or invalid (preview). Used before a backend exists, e.g. by diff to tell a move from an update.
 */
export function deviceOf(target: unknown): string | undefined {
  const t = (target ?? {}) as { routeros?: unknown; linux?: unknown };
  if (t.routeros !== undefined) {
    const r = RouterOsTargetSchema.safeParse(t.routeros);
    return r.success ? `routeros://${r.data.host}:${defaultPort(r.data)}` : undefined;
  }
  const l = LinuxTargetSchema.safeParse(t.linux);
  return l.success ? `linux://${l.data.host}:${l.data.port}` : undefined;
}

/** The RouterOS device a spec's `target.routeros` names, as the backend and the status reader take it. */
export function routerOsDevice(t: NonNullable<Spec["target"]["routeros"]>): RouterOsDevice {
  return {
    host: t.host,
    port: t.port,
    username: t.username,
    password: t.password,
    tls: t.tls,
    timeoutMs: parseDuration(t.timeout) as number,
    version: t.version,
  };
}

export async function backendFor(spec: Spec, plan: Plan): Promise<Backend> {
  if (spec.target.routeros) {
    const t = spec.target.routeros;
    const device = routerOsDevice(t);
    const ros = await import("./routeros/backend");
    const { renderRouterOs } = await import("./routeros/render");
    return {
      device: deviceOf(spec.target) as string,
      desiredLines: () => ros.desiredRouterOsLines(plan, t.version),
      keyed: (lines) => ros.routerOsRules(lines),
      apply: (log, claim) =>
        ros.applyRouterOs(device, plan.owner, renderRouterOs(plan, t.version), log, claim && { claim, plan }),
      read: (log) => ros.readRouterOs(device, plan.owner, log),
      destroy: async (log, claim) => void (await ros.destroyRouterOs(device, plan.owner, log, claim)),
    };
  }
  const linux = await import("./linux/backend");
  return linux.linuxBackend(spec, plan);
}
