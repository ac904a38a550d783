/**
 * The backend-neutral plan: what the gateway must do, decided once from the validated spec, with every name
 * and number a backend needs. Backends only translate it into their own dialect.
 *
 * Vocabulary (the same words are used in spec, plan, rendered rules and docs):
 * - link: an uplink; its *mark* binds a connection to it (RouterOS connection mark + routing table of the
 *   same name, Linux ct mark + fwmark + routing table).
 * - slot: one share of new connections; weights become a slot table, reduced by their gcd and interleaved.
 * - direct: destinations never balanced (LAN networks, bypass networks, the uplink gateways).
 * - sticky: per-user persistence; a user keeps the link its first connection got for `timeout`.
 * - pin: destinations always sent through one link.
 * - fallback: the order in which other links take over a link's traffic while it is down.
 */
import type { LinkSpec, Spec } from "../spec/schema";
import { reduceWeights } from "../spec/schema";
import { parseDuration } from "../spec/values";
import { specRecord } from "../common/record";

export interface PlanLink {
  name: string;
  /** 1-based position in the spec; also the Linux fwmark / routing table offset. */
  index: number;
  interface: string;
  gateway: string;
  weight: number;
  tier: number;
  nat: { kind: "masquerade" } | { kind: "src-nat"; address: string };
  check: {
    targets: string[];
    intervalMs: number;
    timeoutMs: number;
    failAfter: number;
    recoverAfter: number;
  };
  /** Name of the connection mark and routing table that bind connections to this link. */
  mark: string;
  /** Other links in the order they take over while this one is down: same tier by weight, then lower tiers. */
  fallback: string[];
}

export interface Plan {
  owner: string;
  strategy: "nth" | "pcc" | "ecmp";
  hash: "src-address" | "both-addresses" | "both-addresses-and-ports";
  lan: { interfaces: string[]; networks: string[] };
  links: PlanLink[];
  /** Links balanced in normal operation (the best tier). */
  primary: string[];
  /** Interleaved slot table over the primary links; slots.length is the nth / pcc denominator. */
  slots: string[];
  sticky: { timeoutMs: number } | undefined;
  routerTraffic: string;
  inboundSymmetry: boolean;
  pins: Array<{ destination: string; link: string }>;
  bypass: string[];
  /** Destinations never balanced: LAN networks, bypass networks, and each uplink gateway (/32). */
  direct: string[];
  /** Prefix shared by every name this resource writes to a device. */
  prefix: string;
  /** The spec record (common/record.ts): the arguments, kept on the device for `pulumi import`. */
  record: string;
}

/** Prefix of every device object this resource owns: "lbgw-<owner>". */
export function ownerPrefix(owner: string): string {
  return `lbgw-${owner}`;
}

export function buildPlan(spec: Spec): Plan {
  const prefix = ownerPrefix(spec.owner);
  const bestTier = Math.min(...spec.links.map((l) => l.tier));
  const primaryLinks = spec.links.filter((l) => l.tier === bestTier);
  const links = spec.links.map((l, i) => planLink(l, i, spec.links, prefix));
  return {
    owner: spec.owner,
    strategy: spec.strategy,
    hash: spec.hash ?? "both-addresses",
    lan: { interfaces: [...spec.lan.interfaces], networks: [...spec.lan.networks] },
    links,
    primary: primaryLinks.map((l) => l.name),
    slots: interleave(
      primaryLinks.map((l) => l.name),
      reduceWeights(primaryLinks.map((l) => l.weight)),
    ),
    sticky: spec.sticky === false ? undefined : { timeoutMs: ms(spec.sticky.timeout) },
    routerTraffic: spec.routerTraffic ?? primaryLinks[0].name,
    inboundSymmetry: spec.inboundSymmetry,
    pins: spec.pins.map((p) => ({ destination: p.destination, link: p.link })),
    bypass: [...spec.bypass],
    direct: unique([...spec.lan.networks, ...spec.bypass, ...spec.links.map((l) => `${l.gateway}/32`)]),
    prefix,
    record: specRecord(spec),
  };
}

function planLink(l: LinkSpec, i: number, all: LinkSpec[], prefix: string): PlanLink {
  return {
    name: l.name,
    index: i + 1,
    interface: l.interface,
    gateway: l.gateway,
    weight: l.weight,
    tier: l.tier,
    nat: l.nat === "masquerade" ? { kind: "masquerade" } : { kind: "src-nat", address: l.nat.srcNat },
    check: {
      targets: [...l.check.targets],
      intervalMs: ms(l.check.interval),
      timeoutMs: ms(l.check.timeout),
      failAfter: l.check.failAfter,
      recoverAfter: l.check.recoverAfter,
    },
    mark: `${prefix}-${l.name}`,
    fallback: all
      .map((o, j) => ({ o, j }))
      .filter(({ o }) => o.name !== l.name)
      .sort((a, b) => a.o.tier - b.o.tier || b.o.weight - a.o.weight || a.j - b.j)
      .map(({ o }) => o.name),
  };
}

/**
 * Smooth weighted round robin (the nginx algorithm): each link gets `weight` slots, spread as evenly as the
 * ratios allow, so that short bursts of connections are already split close to the weights.
 */
export function interleave(names: string[], weights: number[]): string[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const slots: string[] = [];
  for (let n = 0; n < total; n++) {
    weights.forEach((w, i) => (current[i] += w));
    const pick = current.indexOf(Math.max(...current));
    current[pick] -= total;
    slots.push(names[pick]);
  }
  return slots;
}

function ms(duration: string): number {
  const value = parseDuration(duration);
  if (value === undefined) throw new Error(`invalid duration ${duration} (the spec was not validated)`);
  return value;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

export function linkByName(plan: Plan, name: string): PlanLink {
  const link = plan.links.find((l) => l.name === name);
  if (!link) throw new Error(`plan has no link ${name}`);
  return link;
}
