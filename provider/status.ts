/**
 * Live link status of a gateway, whichever its kind (common/status.ts): read-only, never part of a diff.
 * Used by `lbgw status` and by the provider's read (the `linkStatus` output).
 */
import type { GatewayStatus } from "./common/status";
import type { Plan } from "./plan/plan";
import type { Spec } from "./spec/schema";

export async function readStatus(spec: Spec, plan: Plan): Promise<GatewayStatus> {
  const ros = spec.target.routeros;
  if (ros) {
    const { readRouterOsStatus } = await import("./routeros/status");
    const { routerOsDevice } = await import("./backends");
    return readRouterOsStatus(routerOsDevice(ros), plan);
  }
  const { linuxTarget } = await import("./linux/backend");
  const { readLinuxStatus } = await import("./linux/status");
  return readLinuxStatus(linuxTarget(spec), plan);
}
