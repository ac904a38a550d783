/**
 * The spec checked against the device before any write: what the arguments name must exist there. A link
 * whose interface is missing or whose gateway is not on its interface would be written and then stay dead
 * (its probe route never active), or be refused by the router halfway through an apply with a message that
 * names neither the link nor the value. Each backend gathers the facts (backend-neutral form below) in its
 * initial read, so this costs no extra round trip.
 */
import type { Plan } from "../plan/plan";
import { prefixContains } from "../spec/values";

export interface DeviceFacts {
  /** Every interface by name, with its IPv4 addresses ("a.b.c.d/len") and point-to-point peers. */
  interfaces: Map<string, Array<{ address: string; peer?: string }>>;
  /** Other owners whose routes carry the router's own traffic in the main table. */
  routerTrafficOwners: string[];
}

export class PreflightError extends Error {
  constructor(
    readonly device: string,
    readonly problems: string[],
  ) {
    super(`the arguments do not match ${device}: ${problems.join("; ")}`);
    this.name = "PreflightError";
  }
}

const listed = (names: string[], max = 12) =>
  names.length === 0
    ? "none"
    : names.length > max
      ? `${names.slice(0, max).join(", ")} and ${names.length - max} more`
      : names.join(", ");

/** The problems of `plan` on a device with `facts`, each naming the argument, its value and the device's. */
export function preflightProblems(plan: Plan, facts: DeviceFacts, device: string): string[] {
  const problems: string[] = [];
  const known = [...facts.interfaces.keys()].sort();
  const missing = (what: string, name: string) =>
    `${what}: interface "${name}" does not exist on ${device} (it has ${listed(known)})`;
  plan.lan.interfaces.forEach((name, i) => {
    if (!facts.interfaces.has(name)) problems.push(missing(`lan.interfaces[${i}]`, name));
  });
  for (const l of plan.links) {
    const at = `links[${l.index - 1}] ("${l.name}")`;
    const addresses = facts.interfaces.get(l.interface);
    if (!addresses) {
      problems.push(missing(`${at}.interface`, l.interface));
      continue;
    }
    const onLink = addresses.some((a) => a.peer === l.gateway || prefixContains(a.address, l.gateway));
    if (!onLink)
      problems.push(
        `${at}.gateway: ${l.gateway} is outside every subnet on ${l.interface} ` +
          `(${addresses.length ? addresses.map((a) => a.address + (a.peer ? ` peer ${a.peer}` : "")).join(", ") : "it has no IPv4 address"}): ` +
          "the gateway must be a next hop on the link's own interface",
      );
  }
  for (const other of facts.routerTrafficOwners.filter((o) => o !== plan.owner))
    problems.push(
      `routerTraffic: owner "${other}" already routes the router's own traffic on ${device} (its default ` +
        "routes in the main table): a second resource would add competing default routes. Manage the router " +
        "with one resource, or remove the other one first",
    );
  return problems;
}

export function preflight(plan: Plan, facts: DeviceFacts, device: string): void {
  const problems = preflightProblems(plan, facts, device);
  if (problems.length) throw new PreflightError(device, problems);
}
