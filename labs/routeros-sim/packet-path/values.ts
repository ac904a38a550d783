/**
 * Parsers for values as the RouterOS API prints them (every value is a string).
 *
 * Only IPv4 is modelled: the menus the evaluator reads (`/ip/...`) are IPv4 menus.
 */
import ipaddr from "ipaddr.js";

/** A configuration the evaluator cannot model faithfully, or one RouterOS itself would reject. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** RouterOS prints `true`/`false`; input also accepts `yes`/`no`. Flags print as present-with-empty-value. */
export function parseBool(value: string | undefined, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  const v = value.trim().toLowerCase();
  if (v === "" || v === "true" || v === "yes") return true;
  if (v === "false" || v === "no") return false;
  throw new ConfigError(`not a boolean: "${value}"`);
}

/** `disabled`/`invalid` style flags: absent means false. */
export function flag(entry: Record<string, string>, name: string): boolean {
  return parseBool(entry[name], false);
}

const UNIT_MS: Record<string, number> = {
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

/**
 * RouterOS durations: `1d`, `1w2d3h4m5s`, `500ms`, `00:10:00`, `1d 00:00:00`, `1d00:00:00`, a bare
 * number of seconds, and the address-list specials `none-dynamic` / `none-static` (no timeout).
 * Returns milliseconds; `Infinity` for "no timeout".
 */
export function parseDuration(value: string): number {
  const v = value.trim();
  if (v === "none-dynamic" || v === "none-static" || v === "") return Infinity;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const m = /^(?:(\d+)w)?\s*(?:(\d+)d)?\s*(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(v);
  if (m) {
    const [, w, d, hh, mm, ss, frac] = m;
    return (
      Number(w ?? 0) * UNIT_MS.w +
      Number(d ?? 0) * UNIT_MS.d +
      Number(hh) * UNIT_MS.h +
      Number(mm) * UNIT_MS.m +
      Number(ss) * UNIT_MS.s +
      (frac ? Number(frac.padEnd(3, "0")) : 0)
    );
  }
  const tokens = v.replace(/\s+/g, "").match(/\d+(?:ms|w|d|h|m|s)/g);
  if (!tokens || tokens.join("") !== v.replace(/\s+/g, ""))
    throw new ConfigError(`not a duration: "${value}"`);
  let total = 0;
  for (const t of tokens) {
    const [, n, unit] = /^(\d+)(ms|w|d|h|m|s)$/.exec(t) as RegExpExecArray;
    total += Number(n) * UNIT_MS[unit];
  }
  return total;
}

/** Dotted-quad IPv4 address to an unsigned 32-bit integer. */
export function ipToInt(ip: string): number {
  const s = ip.trim();
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) throw new ConfigError(`not an IPv4 address: "${ip}"`);
  const [a, b, c, d] = ipaddr.IPv4.parse(s).toByteArray();
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export function intToIp(n: number): string {
  return ipaddr.fromByteArray([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).toString();
}

export function isIpv4(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s.trim());
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** An inclusive range of IPv4 addresses; CIDR prefixes keep their length for longest-prefix match. */
export interface AddrRange {
  lo: number;
  hi: number;
  /** Prefix length when the range is a CIDR block (a single address is /32). */
  prefix?: number;
}

/** `a.b.c.d`, `a.b.c.d/n` (host bits are ignored, as RouterOS normalises them) or `a.b.c.d-e.f.g.h`. */
export function parseAddrRange(value: string): AddrRange {
  const v = value.trim();
  const dash = v.indexOf("-");
  if (dash > 0) {
    const lo = ipToInt(v.slice(0, dash));
    const hi = ipToInt(v.slice(dash + 1));
    if (hi < lo) throw new ConfigError(`empty address range "${value}"`);
    return { lo, hi };
  }
  if (v.includes("/")) {
    if (!ipaddr.IPv4.isValidCIDRFourPartDecimal(v)) throw new ConfigError(`not an IPv4 prefix: "${value}"`);
    const [addr, prefix] = ipaddr.IPv4.parseCIDR(v);
    const [a, b, c, d] = addr.toByteArray();
    const mask = prefixMask(prefix);
    const lo = (((a << 24) | (b << 16) | (c << 8) | d) & mask) >>> 0;
    return { lo, hi: (lo | ~mask) >>> 0, prefix };
  }
  const n = ipToInt(v);
  return { lo: n, hi: n, prefix: 32 };
}

export function inRange(ip: number, r: AddrRange): boolean {
  return ip >= r.lo && ip <= r.hi;
}

/** Splits a leading `!` off a matcher value. */
export function negation(value: string): { negate: boolean; value: string } {
  const v = value.trim();
  return v.startsWith("!") ? { negate: true, value: v.slice(1).trim() } : { negate: false, value: v };
}

/** Comma separated lists; empty items dropped. */
export function list(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Port lists such as `80`, `80,443`, `1000-2000`. */
export function parsePorts(value: string): Array<[number, number]> {
  return list(value).map((item) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) throw new ConfigError(`not a port or port range: "${item}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo > 65535 || hi > 65535 || hi < lo) throw new ConfigError(`bad port range "${item}"`);
    return [lo, hi];
  });
}

const PROTOCOL_NUMBERS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  "ipsec-esp": 50,
};

export function protocolNumber(value: string): number {
  const v = value.trim().toLowerCase();
  if (/^\d+$/.test(v)) return Number(v);
  const n = PROTOCOL_NUMBERS[v];
  if (n === undefined) throw new ConfigError(`unknown protocol "${value}"`);
  return n;
}

/** `nth=every,packet` (RouterOS 3.0+ syntax; packets are numbered 1..every). */
export function parseNth(value: string): { every: number; packet: number } {
  const parts = list(value);
  if (parts.length === 3) {
    throw new ConfigError(
      `nth=${value} is the pre-3.0 syntax (every,counter,packet); RouterOS 3.0+ takes nth=every,packet with packet 1..every`,
    );
  }
  if (parts.length !== 2 || !parts.every((p) => /^\d+$/.test(p))) throw new ConfigError(`bad nth "${value}"`);
  const every = Number(parts[0]);
  const packet = Number(parts[1]);
  if (every < 1 || packet < 1 || packet > every) {
    throw new ConfigError(`nth=${value}: packet must be within 1..every`);
  }
  return { every, packet };
}

export const PCC_HASHES = [
  "src-address",
  "dst-address",
  "both-addresses",
  "src-port",
  "dst-port",
  "both-ports",
  "src-address-and-port",
  "dst-address-and-port",
  "both-addresses-and-ports",
] as const;
export type PccHash = (typeof PCC_HASHES)[number];

/** `per-connection-classifier=<hash>:<denominator>/<remainder>`. */
export function parsePcc(value: string): { hash: PccHash; denominator: number; remainder: number } {
  const m = /^([a-z-]+):(\d+)\/(\d+)$/.exec(value.trim());
  if (!m || !(PCC_HASHES as readonly string[]).includes(m[1])) {
    throw new ConfigError(`bad per-connection-classifier "${value}"`);
  }
  const denominator = Number(m[2]);
  const remainder = Number(m[3]);
  if (denominator < 1 || remainder >= denominator) {
    throw new ConfigError(`per-connection-classifier=${value}: remainder must be below the denominator`);
  }
  return { hash: m[1] as PccHash, denominator, remainder };
}
