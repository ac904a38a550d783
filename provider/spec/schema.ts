/**
 * The resource arguments: one zod schema, used by the provider's check(), the render CLI and the tests.
 * Every message names what is wrong in words a network engineer uses; the property path comes from zod.
 * Field names are a contract shared by the Pulumi args and the `lbgw render` spec files.
 */
import { z } from "zod";
import {
  SAFE_NAME,
  canonicalPrefix,
  describeUnsafeName,
  isIPv4,
  isWin1252,
  parseDuration,
  prefixContains,
  prefixesOverlap,
} from "./values";

/** At most this many uplinks: 16 routing tables/marks keep rule sets small and fit a 4-bit mark field. */
export const MAX_LINKS = 16;
/** Sum of gcd-reduced weights; each slot is one classifier rule on RouterOS, so keep the rule set bounded. */
export const MAX_SLOTS = 64;
/** Highest accepted weight: finer ratios than 1:100 are not measurable at connection level. */
export const MAX_WEIGHT = 100;

const safeName = (what: string, max: number) =>
  z.string({ error: `${what} must be a string` }).superRefine((v, ctx) => {
    if (!SAFE_NAME.test(v)) ctx.addIssue({ code: "custom", message: `${what} ${describeUnsafeName(v)}` });
    else if (v.length > max)
      ctx.addIssue({ code: "custom", message: `${what} is longer than ${max} characters` });
  });

const ipv4 = (what: string) =>
  z.string({ error: `${what} must be a string holding an IPv4 address` }).refine(isIPv4, {
    message: `${what} must be an IPv4 address such as 10.111.0.1 (not a name or a prefix)`,
  });

const prefix = (what: string) =>
  z
    .string({ error: `${what} must be a string holding an IPv4 prefix` })
    .refine((v) => canonicalPrefix(v) !== undefined, {
      message: `${what} must be an IPv4 address or prefix such as 192.168.0.0/24`,
    })
    .transform((v) => canonicalPrefix(v) as string);

const duration = (what: string, minMs: number, maxMs: number) =>
  z.string({ error: `${what} must be a duration string such as "1s" or "1d"` }).superRefine((v, ctx) => {
    const value = parseDuration(v);
    if (value === undefined)
      ctx.addIssue({
        code: "custom",
        message: `${what} must be a number with a unit (ms, s, m, h, d, w), e.g. "1s"`,
      });
    else if (value < minMs || value > maxMs)
      ctx.addIssue({
        code: "custom",
        message: `${what} must be between ${fmtMs(minMs)} and ${fmtMs(maxMs)}`,
      });
  });

function fmtMs(msValue: number): string {
  return msValue % 86_400_000 === 0
    ? `${msValue / 86_400_000}d`
    : msValue % 1000 === 0
      ? `${msValue / 1000}s`
      : `${msValue}ms`;
}

const int = (what: string, min: number, max: number) =>
  z
    .number({ error: `${what} must be a number` })
    .refine((v) => Number.isInteger(v) && v >= min && v <= max, {
      message: `${what} must be a whole number from ${min} to ${max}`,
    })
    // The Pulumi package schema (plugin/schema.ts) then types it as an integer in every language.
    .meta({ type: "integer" });

const hostName = z
  .string({ error: "host must be a string" })
  .refine(
    (v) =>
      isIPv4(v) ||
      /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(v),
    {
      message: "host must be an IPv4 address or a DNS name",
    },
  );

/**
 * A RouterOS user name or password: any text the API can carry unchanged. API words are bytes, and
 * node-routeros encodes them as Windows-1252 (what RouterOS and Winbox use); a character outside it would
 * arrive as "?", so the login could never succeed (and two such passwords would look alike). The message
 * never shows the value, nor the offending character: it is a secret.
 */
const apiCredential = (what: string) =>
  z.string({ error: `${what} must be a string` }).refine(isWin1252, {
    message:
      `${what} has a character outside Windows-1252 (such as an emoji, or a letter of a non-Latin script): ` +
      'the RouterOS API client sends that codepage and would send it as "?", so the router could never ' +
      `accept it; use a ${what} of Windows-1252 characters (ASCII is safest)`,
  });

export const RouterOsTargetSchema = z
  .object({
    host: hostName.describe("Address or DNS name of the router's API service."),
    port: int("port", 1, 65535).optional().describe("API port. Default 8728, or 8729 with `tls`."),
    username: apiCredential("username").min(1, "username must not be empty"),
    password: apiCredential("password"),
    /** TLS (API-SSL, port 8729): verify with `ca`, or opt out of verification explicitly with `insecure`. */
    tls: z
      .union([
        z.literal(false),
        z
          .object({
            ca: z.string().optional(),
            insecure: z.boolean().optional(),
            servername: z.string().optional(),
          })
          .strict(),
      ])
      .optional()
      .superRefine((v, ctx) => {
        if (v && !v.ca && v.insecure !== true)
          ctx.addIssue({
            code: "custom",
            message:
              "TLS needs a CA certificate (tls.ca, PEM) to verify the router, or an explicit tls.insecure: true",
          });
      }),
    /** RouterOS major version; selects the v6 or v7 dialect. */
    version: z
      .union([z.literal(6), z.literal(7)], { error: "version must be 6 or 7 (the RouterOS major version)" })
      .default(7)
      .describe("RouterOS major version: 6 or 7. Default 7."),
    /** Per-command timeout. */
    timeout: duration("timeout", 100, 600_000)
      .default("10s")
      .describe('Timeout of each API command. Default "10s".'),
  })
  .strict();

export const LinuxTargetSchema = z
  .object({
    host: hostName.describe("Address or DNS name of the gateway's SSH service."),
    port: int("port", 1, 65535).default(22).describe("SSH port. Default 22."),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "user must be a Unix user name")
      .default("root")
      .describe('SSH user. Default "root"; other users need `sudo: true`.'),
    password: z.string().optional(),
    privateKey: z.string().optional(),
    privateKeyPassword: z.string().optional(),
    agentSocketPath: z.string().optional(),
    /** The gateway's SSH host key ("ssh-ed25519 AAAA...") or its "SHA256:..." fingerprint; a mismatch refuses. */
    hostKey: z
      .string()
      .min(1, "hostKey must not be empty")
      .describe('The gateway\'s SSH host key ("ssh-ed25519 AAAA...") or its "SHA256:..." fingerprint.'),
    /** Run privileged commands through sudo (non-root users). */
    sudo: z.boolean().default(false).describe("Run privileged commands through sudo. Default false."),
    timeout: duration("timeout", 100, 600_000).default("30s"),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.password && !v.privateKey && !v.agentSocketPath)
      ctx.addIssue({ code: "custom", message: "give one of password, privateKey or agentSocketPath" });
  });

/** The device: exactly one of RouterOS or Linux. */
export const TargetSchema = z
  .object({ routeros: RouterOsTargetSchema.optional(), linux: LinuxTargetSchema.optional() })
  .strict()
  .superRefine((v, ctx) => {
    if (!!v.routeros === !!v.linux)
      ctx.addIssue({ code: "custom", message: "give exactly one of target.routeros or target.linux" });
  });

export const CheckSchema = z
  .object({
    /** Addresses probed *through* the link, beyond the first hop (the ISP gateway alone proves little). */
    targets: z
      .array(ipv4("each check target"))
      .min(1, "check.targets needs at least one address beyond the ISP gateway")
      .max(4, "check.targets takes at most 4 addresses")
      .describe("One to four IPv4 addresses probed through the link, beyond the ISP gateway."),
    // Defaults chosen so an upstream failure moves new connections within 3 s (bench/failover.ts): a
    // failing round lasts timeout + interval, and failAfter rounds make the link down.
    interval: duration("check.interval", 100, 3_600_000)
      .default("300ms")
      .describe('Time between probe rounds. Default "300ms".'),
    timeout: duration("check.timeout", 100, 60_000)
      .default("300ms")
      .describe('How long a probe waits for its reply. Default "300ms".'),
    /** Consecutive failed rounds before the link is declared down. */
    failAfter: int("check.failAfter", 1, 100)
      .default(3)
      .describe("Consecutive failed rounds before the link is declared down. Default 3."),
    /** Consecutive good rounds before a down link is used again (hysteresis). */
    recoverAfter: int("check.recoverAfter", 1, 100)
      .default(10)
      .describe("Consecutive good rounds before a down link is used again. Default 10."),
  })
  .strict();

export const LinkSchema = z
  .object({
    name: safeName("link name", 15).describe(
      "The link's name (at most 15 characters), used in every name written.",
    ),
    interface: safeName("interface", 63).describe("The uplink's interface on the device."),
    gateway: ipv4("gateway").describe("The ISP's next hop (IPv4)."),
    weight: int("weight", 1, MAX_WEIGHT)
      .default(1)
      .describe("Share of new connections relative to the other links of its tier. Default 1."),
    nat: z
      .union([z.literal("masquerade"), z.object({ srcNat: ipv4("srcNat") }).strict()], {
        error: 'nat must be "masquerade" or { srcNat: ADDRESS }',
      })
      .default("masquerade")
      .describe('Source translation: "masquerade" (default) or { srcNat: ADDRESS }.'),
    check: CheckSchema.describe("Health check: the link is used only while its targets answer through it."),
    /** Backup tier: links of tier N carry traffic only while every link of a lower tier is down. */
    tier: int("tier", 1, 8)
      .default(1)
      .describe(
        "Backup tier: tier N carries traffic only while every link of a lower tier is down. Default 1.",
      ),
  })
  .strict();

export const PCC_HASHES = ["src-address", "both-addresses", "both-addresses-and-ports"] as const;

const SpecObject = z
  .object({
    /** Ownership tag written into every entry this resource creates; defaults to the Pulumi resource name. */
    owner: z
      .string({ error: "owner must be a string" })
      .regex(
        /^[A-Za-z0-9_]{1,24}$/,
        "owner must be 1 to 24 letters, digits or underscores (it prefixes every name this resource writes)",
      )
      .describe(
        "Tag written into every owned entry. Default: the resource name (other characters become _).",
      ),
    target: TargetSchema.describe("The device: exactly one of `routeros` or `linux`. Stored as a secret."),
    lan: z
      .object({
        interfaces: z
          .array(safeName("LAN interface", 63))
          .min(1, "lan.interfaces needs at least one interface"),
        networks: z.array(prefix("LAN network")).min(1, "lan.networks needs at least one network"),
      })
      .strict()
      .describe("The LAN side: its interfaces and networks. Traffic to them is never balanced."),
    links: z
      .array(LinkSchema)
      .min(2, "links needs at least two uplinks to balance")
      .max(MAX_LINKS, `links takes at most ${MAX_LINKS} uplinks`)
      .describe(`Two to ${MAX_LINKS} uplinks.`),
    strategy: z
      .enum(["nth", "pcc", "ecmp"], { error: 'strategy must be "nth", "pcc" or "ecmp"' })
      .default("nth")
      .describe(
        '"nth" (weighted round robin of new connections, default), "pcc" (hash) or "ecmp" (route level).',
      ),
    hash: z
      .enum(PCC_HASHES, { error: `hash must be one of ${PCC_HASHES.join(", ")}` })
      .optional()
      .describe('pcc only: what the classifier hashes. Default "both-addresses".'),
    sticky: z
      .union(
        [z.literal(false), z.object({ timeout: duration("sticky.timeout", 1000, 30 * 86_400_000) }).strict()],
        {
          error: 'sticky must be false or { timeout: "1d" }',
        },
      )
      .default(false)
      .describe("nth only: keep each user on the link of its first connection for `timeout`. Default false."),
    routerTraffic: z
      .string()
      .optional()
      .describe(
        "The link that carries the router's own traffic (with failover). Default: the first best-tier link.",
      ),
    inboundSymmetry: z
      .boolean({ error: "inboundSymmetry must be true or false" })
      .default(true)
      .describe("Replies to connections that came in on an uplink leave by it. Default true."),
    pins: z
      .array(z.object({ destination: prefix("pin destination"), link: z.string() }).strict())
      .default([])
      .describe("Destinations always sent through one link (e.g. an ISP's own DNS servers)."),
    bypass: z
      .array(prefix("bypass network"))
      .default([])
      .describe("Destinations never balanced (left to the main routing table)."),
    /**
     * At create: take over the owner's configuration on the device although another resource (or stack)
     * holds it, or no resource claims it (common/claim.ts). Ignored afterwards.
     */
    adopt: z
      .boolean({ error: "adopt must be true or false" })
      .default(false)
      .describe(
        "At create, take over this owner's configuration on the device although another resource holds it.",
      ),
  })
  .strict();

export const SpecSchema = SpecObject.superRefine(crossFieldRules);

export type SpecInput = z.input<typeof SpecSchema>;
export type Spec = z.output<typeof SpecSchema>;
export type LinkSpec = Spec["links"][number];

/** Rules that involve more than one field. */
function crossFieldRules(spec: z.output<typeof SpecObject>, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: "custom", path, message });
  const links = spec.links;
  const names = new Set(links.map((l) => l.name));

  firstDuplicates(links.map((l) => l.name)).forEach((i) =>
    issue(["links", i, "name"], `duplicate link name "${links[i].name}": link names must be unique`),
  );
  firstDuplicates(links.map((l) => l.interface)).forEach((i) =>
    issue(
      ["links", i, "interface"],
      `interface "${links[i].interface}" is used by two links: each uplink needs its own interface`,
    ),
  );
  firstDuplicates(links.map((l) => l.gateway)).forEach((i) =>
    issue(["links", i, "gateway"], `gateway ${links[i].gateway} is used by two links`),
  );
  links.forEach((l, i) =>
    firstDuplicates(l.check.targets).forEach((j) =>
      issue(
        ["links", i, "check", "targets", j],
        `check target ${l.check.targets[j]} appears twice in this link`,
      ),
    ),
  );
  // Linux probes every target through each link that lists it (the prober's ping is bound to the uplink
  // and carries its mark); RouterOS 7 from each link's address through the link (routeros/netwatch.ts,
  // 7.11.3+, checked against the router). RouterOS 6 netwatch probes can only follow the main table.
  if (spec.target.routeros?.version === 6)
    links.forEach((l, i) =>
      l.check.targets.forEach((t, j) => {
        const first = links.findIndex((o) => o.check.targets.includes(t));
        if (first < i)
          issue(
            ["links", i, "check", "targets", j],
            `check target ${t} is also probed through links[${first}] (${links[first].name}): RouterOS 6 ` +
              "netwatch cannot choose a probe's source address or routing table, so on RouterOS 6 a target " +
              "can be probed through one link only (RouterOS 7.11.3 and later can)",
          );
      }),
    );
  links.forEach((l, i) => {
    if (spec.lan.interfaces.includes(l.interface))
      issue(["links", i, "interface"], `interface "${l.interface}" is also a LAN interface`);
    l.check.targets.forEach((t, j) => {
      if (links.some((o) => o.gateway === t))
        issue(
          ["links", i, "check", "targets", j],
          `check target ${t} is an uplink gateway: probe an address beyond the first hop`,
        );
      if (spec.lan.networks.some((n) => prefixContains(n, t)))
        issue(["links", i, "check", "targets", j], `check target ${t} is inside a LAN network`);
    });
    if (spec.lan.networks.some((n) => prefixContains(n, l.gateway)))
      issue(["links", i, "gateway"], `gateway ${l.gateway} is inside a LAN network`);
  });
  spec.lan.networks.forEach((n, i) =>
    spec.lan.networks.forEach((m, j) => {
      if (j > i && prefixesOverlap(n, m)) issue(["lan", "networks", j], `LAN network ${m} overlaps ${n}`);
    }),
  );

  if (spec.routerTraffic !== undefined && !names.has(spec.routerTraffic))
    issue(
      ["routerTraffic"],
      `routerTraffic names no link: "${spec.routerTraffic}" is not one of ${[...names].join(", ")}`,
    );
  spec.pins.forEach((p, i) => {
    if (!names.has(p.link))
      issue(["pins", i, "link"], `pin to an unknown link "${p.link}": links are ${[...names].join(", ")}`);
  });
  if (spec.sticky !== false && spec.strategy !== "nth")
    issue(
      ["sticky"],
      spec.strategy === "ecmp"
        ? "sticky works with strategy nth only: ecmp already keeps a source/destination pair on one gateway"
        : "sticky works with strategy nth only: pcc with hash src-address already keeps each user on one link",
    );
  if (spec.target.linux && spec.strategy === "ecmp")
    issue(
      ["strategy"],
      'strategy "ecmp" is RouterOS-only: on Linux use "pcc" with hash "both-addresses" (a multipath route cannot see failures beyond the first hop)',
    );
  if (spec.hash !== undefined && spec.strategy !== "pcc")
    issue(["hash"], `hash applies to strategy pcc only (strategy is ${spec.strategy})`);

  const best = Math.min(...links.map((l) => l.tier));
  const primary = links.filter((l) => l.tier === best);
  const slots = slotCount(primary.map((l) => l.weight));
  if (slots > MAX_SLOTS)
    issue(
      ["links"],
      `the weights of tier ${best} reduce to ${slots} slots (at most ${MAX_SLOTS}): use smaller or more even weights`,
    );
  if (
    spec.strategy === "ecmp" &&
    spec.target.routeros?.version === 7 &&
    new Set(primary.map((l) => l.weight)).size > 1
  )
    issue(
      ["strategy"],
      "RouterOS 7 ECMP spreads evenly over its gateways and cannot weight them: use equal weights, or strategy nth or pcc",
    );
}

/** Indexes of entries that repeat an earlier one. */
function firstDuplicates(values: string[]): number[] {
  const seen = new Set<string>();
  return values.flatMap((v, i) => (seen.has(v) ? [i] : (seen.add(v), [])));
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Weights divided by their greatest common divisor. */
export function reduceWeights(weights: number[]): number[] {
  const g = weights.reduce(gcd);
  return weights.map((w) => w / g);
}

export function slotCount(weights: number[]): number {
  return reduceWeights(weights).reduce((a, b) => a + b, 0);
}

export interface CheckFailure {
  property: string;
  reason: string;
}

/** "links.1.weight" → "links[1].weight" */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    "",
  );
}

/** Validates raw arguments. Never throws for bad input: every problem becomes a CheckFailure. */
export function parseSpec(
  input: unknown,
): { ok: true; spec: Spec } | { ok: false; failures: CheckFailure[] } {
  const result = SpecSchema.safeParse(input);
  if (result.success) return { ok: true, spec: result.data };
  const failures = result.error.issues.map((i) => {
    const value = valueAt(input, i.path);
    return {
      property: formatPath(i.path) || "(arguments)",
      reason: issueText(i, value) + shownValue(i.path, value),
    };
  });
  return { ok: false, failures };
}

/** Arguments whose value is never shown (the engine's own display of a failure shows no value either). */
const SECRET_KEYS = new Set(["username", "password", "privateKey", "privateKeyPassword"]);

/** " (value: ...)" for a failure's message: the offending value, masked when secret, cut when long. */
function shownValue(path: readonly PropertyKey[], value: unknown): string {
  if (value === undefined) return "";
  if (path.some((k) => SECRET_KEYS.has(String(k)))) return " (value: [secret])";
  const text = JSON.stringify(value) ?? String(value);
  return ` (value: ${text.length > 80 ? `${text.slice(0, 77)}...` : text})`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (v, key) => (v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[key] : undefined),
    input,
  );
}

function issueText(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === "unrecognized_keys") return `unknown argument(s): ${issue.keys.join(", ")}`;
  if (issue.code === "invalid_type" && issue.message.startsWith("Invalid input"))
    return value === undefined
      ? `is required (expected ${issue.expected})`
      : `must be ${issue.expected === "array" ? "a list" : `a ${issue.expected}`} (got ${Array.isArray(value) ? "a list" : value === null ? "null" : `a ${typeof value}`})`;
  return issue.message;
}
