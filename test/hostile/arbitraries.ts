/**
 * fast-check arbitraries for the resource's arguments: valid specs (RouterOS and Linux targets, 2..16 links,
 * every strategy with its rules), paths into them, and hostile strings.
 */
import fc from "fast-check";
import type { SpecInput } from "../../provider/spec/schema";

const safeName = (max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,${max - 1}}$`));
const duration = (min: number, max: number, unit: "ms" | "s" | "m" | "h" | "d") =>
  fc.integer({ min, max }).map((n) => `${n}${unit}`);

/** A valid target: RouterOS or Linux. `at` points it somewhere (a simulator, a listener). */
export function targetArb(at: { host: string; rosPort: number; sshPort: number }) {
  const routeros = fc.record(
    {
      host: fc.constant(at.host),
      port: fc.constant(at.rosPort),
      username: fc.string({ minLength: 1, maxLength: 12 }),
      password: fc.string({ maxLength: 12 }),
      version: fc.constantFrom(6 as const, 7 as const),
      timeout: duration(1, 30, "s"),
    },
    { requiredKeys: ["host", "port", "username", "password"] },
  );
  const linux = fc.record(
    {
      host: fc.constant(at.host),
      port: fc.constant(at.sshPort),
      user: fc.stringMatching(/^[a-z_][a-z0-9_-]{0,8}$/),
      password: fc.string({ minLength: 1, maxLength: 12 }),
      hostKey: fc.constant("SHA256:2mV3tqGZ0mXJm0vW8cI8K0c9m0pP8Yt9xYq1c7L5kYQ"),
      sudo: fc.boolean(),
      timeout: duration(1, 60, "s"),
    },
    { requiredKeys: ["host", "port", "password", "hostKey"] },
  );
  return fc.oneof(
    routeros.map((routeros) => ({ routeros })),
    linux.map((linux) => ({ linux })),
  );
}

/** A valid spec. Addresses are chosen so that no cross-field rule can trip (LAN 192.168/16, gateways 10/8). */
export function validSpecArb(at: {
  host: string;
  rosPort: number;
  sshPort: number;
}): fc.Arbitrary<SpecInput> {
  return fc
    .record({
      owner: fc.stringMatching(/^[A-Za-z0-9_]{1,24}$/),
      target: targetArb(at),
      lanIfaces: fc.uniqueArray(
        safeName(10).map((n) => `lan-${n}`),
        { minLength: 1, maxLength: 3 },
      ),
      lanNets: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 3 }),
      links: fc.uniqueArray(safeName(15), {
        minLength: 2,
        maxLength: 16,
        comparator: (a, b) => a.toLowerCase() === b.toLowerCase(),
      }),
      weights: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 16, maxLength: 16 }),
      tiers: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 16, maxLength: 16 }),
      srcNat: fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
      check: fc.record(
        {
          interval: duration(100, 5000, "ms"),
          timeout: duration(100, 5000, "ms"),
          failAfter: fc.integer({ min: 1, max: 100 }),
          recoverAfter: fc.integer({ min: 1, max: 100 }),
        },
        { requiredKeys: [] },
      ),
      strategy: fc.constantFrom("nth" as const, "pcc" as const, "ecmp" as const, undefined),
      hash: fc.constantFrom(
        "src-address" as const,
        "both-addresses" as const,
        "both-addresses-and-ports" as const,
      ),
      sticky: fc.option(duration(1, 30, "d"), { nil: undefined }),
      routerTraffic: fc.option(fc.nat(15), { nil: undefined }),
      pins: fc.array(
        fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 8, max: 32 }), fc.nat(15)),
        {
          maxLength: 3,
        },
      ),
      bypass: fc.array(
        fc.integer({ min: 1, max: 254 }).map((n) => `172.${16 + (n % 16)}.${n}.0/24`),
        {
          maxLength: 3,
        },
      ),
      inboundSymmetry: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map((r) => {
      const linux = "linux" in r.target;
      const strategy = linux && r.strategy === "ecmp" ? "pcc" : r.strategy;
      const n = r.links.length;
      const equal =
        strategy === "ecmp" &&
        !linux &&
        (r.target as { routeros: { version?: number } }).routeros.version !== 6;
      const spec: SpecInput = {
        owner: r.owner,
        target: r.target,
        lan: {
          interfaces: r.lanIfaces,
          networks: r.lanNets.map((x) => `192.168.${x}.0/24`),
        },
        links: r.links.map((name, i) => ({
          name,
          interface: `wan${i}-${name}`.slice(0, 63),
          gateway: `10.${i + 1}.0.1`,
          // v7 ECMP cannot weight: equal weights there
          weight: equal ? 1 : r.weights[i],
          tier: equal ? 1 : r.tiers[i],
          ...(r.srcNat[i] ? { nat: { srcNat: `10.${i + 1}.0.2` } } : {}),
          check: { targets: [`198.51.100.${i + 1}`], ...r.check },
        })),
        ...(strategy ? { strategy } : {}),
        ...(strategy === "pcc" ? { hash: r.hash } : {}),
        ...((strategy ?? "nth") === "nth" && r.sticky ? { sticky: { timeout: r.sticky } } : {}),
        ...(r.routerTraffic !== undefined ? { routerTraffic: r.links[r.routerTraffic % n] } : {}),
        pins: r.pins.map(([a, len, l]) => ({ destination: `203.0.${a}.0/${len}`, link: r.links[l % n] })),
        bypass: r.bypass,
        ...(r.inboundSymmetry !== undefined ? { inboundSymmetry: r.inboundSymmetry } : {}),
      };
      return spec;
    });
}

export type Path = Array<string | number>;

export function formatPath(path: Path): string {
  return path.reduce<string>(
    (acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc ? `${acc}.${k}` : k),
    "",
  );
}

export function getAt(obj: unknown, path: Path): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], obj);
}

export function setAt(obj: unknown, path: Path, value: unknown): void {
  const parent = getAt(obj, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]] = value;
}

export function deleteAt(obj: unknown, path: Path): void {
  const parent = getAt(obj, path.slice(0, -1)) as Record<string | number, unknown>;
  if (Array.isArray(parent)) parent.splice(path[path.length - 1] as number, 1);
  else delete parent[path[path.length - 1]];
}

/** Every path in a JSON value (objects and arrays included), root excluded. */
export function allPaths(obj: unknown, prefix: Path = []): Path[] {
  if (obj === null || typeof obj !== "object") return [];
  return Object.entries(obj).flatMap(([k, v]) => {
    const p = [...prefix, Array.isArray(obj) ? Number(k) : k];
    return [p, ...allPaths(v, p)];
  });
}

/** Paths of every string leaf. */
export const stringPaths = (obj: unknown): Path[] =>
  allPaths(obj).filter((p) => typeof getAt(obj, p) === "string");

/**
 * "links[1].check.targets[0]" → segments, "(arguments)" → the root. Does the property name something in
 * `input`? Every segment must exist, except that the last may be missing (a required field left out).
 */
export function namesRealPath(input: unknown, property: string): boolean {
  if (property === "(arguments)") return true;
  if (!property) return false;
  const segments: Path = [];
  for (const m of property.matchAll(/([^.[\]]+)|\[(\d+)\]/g))
    segments.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  if (formatPath(segments) !== property) return false;
  const parent = getAt(input, segments.slice(0, -1));
  return parent !== null && typeof parent === "object";
}

/** Characters and fragments that mean something to a shell, nft, RouterOS (API words, scripts) or a terminal. */
export const HOSTILE_FRAGMENTS = [
  "'",
  '"',
  ";",
  "\n",
  "\r\n",
  "$(reboot)",
  "`reboot`",
  "${IFS}",
  "\\",
  "|",
  "&&",
  "#",
  "=",
  "=comment=x",
  "\n/system/reboot\n",
  "?.id=*1",
  "!",
  " ",
  "\t",
  "\u0000",
  "\u202Eevil",
  "\u05D0\u05D1",
  "\u{1F600}",
  "é",
  "\u00A0",
  "{",
  "}",
  "*",
  "@",
  "/",
  ":",
  "..",
];

/** A hostile string: fragments and arbitrary unicode, sometimes around a valid-looking value. */
export const hostileString = (around?: string): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.array(
        fc.oneof(fc.constantFrom(...HOSTILE_FRAGMENTS), fc.string({ unit: "grapheme", maxLength: 4 })),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      fc.constantFrom("prefix", "suffix", "alone", "middle"),
    )
    .map(([parts, where]) => {
      const h = parts.join("");
      const v = around ?? "";
      if (where === "prefix") return h + v;
      if (where === "suffix") return v + h;
      if (where === "middle") return v.slice(0, 2) + h + v.slice(2);
      return h;
    })
    .filter((s) => s !== around);
