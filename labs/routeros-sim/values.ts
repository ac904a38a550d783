/**
 * Value types of menu properties: how RouterOS accepts a value (input) and how it prints it (output).
 * A type normalises input to a stored form; `print` turns the stored form into what `print` returns.
 */
import { Msg } from "./messages";
import { RosVersion } from "./version";

/** What a value type may look up: the version and names that other menus define. */
export interface ValueContext {
  version: RosVersion;
  interfaces(): ReadonlySet<string>;
  interfaceLists(): ReadonlySet<string>;
  /** v7: names in /routing/table (including the built-in "main"). */
  routingTables(): ReadonlySet<string>;
}

export type Parsed = { value: string } | { error: string };

export interface ValueType {
  /** Short description, for documentation and error-free introspection. */
  readonly kind: string;
  parse(raw: string, prop: string, ctx: ValueContext): Parsed;
  print?(stored: string, ctx: ValueContext): string;
  /** Enumerations: every value accepted in this version (the conformance test compares them with RouterOS). */
  values?(ctx: Pick<ValueContext, "version">): readonly string[];
}

const ok = (value: string): Parsed => ({ value });
const fail = (error: string): Parsed => ({ error });
export const isError = (p: Parsed): p is { error: string } => "error" in p;

// ---------------------------------------------------------------------------------------------------------
// Scalars

export const text: ValueType = { kind: "text", parse: (raw) => ok(raw) };

/** A name: non-empty, no control characters. */
export const name: ValueType = {
  kind: "name",
  parse: (raw, prop) =>
    raw.length === 0 || [...raw].some((c) => c.charCodeAt(0) < 0x20) ? fail(Msg.invalidValue(prop)) : ok(raw),
};

/** yes/no input (true/false accepted too), printed "true"/"false" by the API in v6 and v7. */
export const bool: ValueType = {
  kind: "bool",
  parse(raw, prop) {
    const v = raw.toLowerCase();
    if (v === "yes" || v === "true") return ok("true");
    if (v === "no" || v === "false") return ok("false");
    return fail(Msg.noMatch(prop));
  },
};

/**
 * A flag such as `/routing/table fib`: sent as `=fib=` or `=fib=yes`, printed present with an empty value.
 * `=fib=no` clears it (the engine removes properties whose stored value is FLAG_OFF).
 */
export const FLAG_OFF = "\u0000off";
export const flag: ValueType = {
  kind: "flag",
  parse(raw, prop) {
    const v = raw.toLowerCase();
    if (v === "" || v === "yes" || v === "true") return ok("");
    if (v === "no" || v === "false") return ok(FLAG_OFF);
    return fail(Msg.noMatch(prop));
  },
};

export function int(min: number, max: number): ValueType {
  return {
    kind: `integer ${min}..${max}`,
    parse(raw, prop) {
      if (!/^[+-]?\d+$/.test(raw.trim())) return fail(Msg.invalidValue(prop));
      const n = Number(raw);
      if (n < min || n > max) return fail(Msg.outOfRange(prop, min, max));
      return ok(String(n));
    },
  };
}

/** Values that may depend on the version. */
export type Choices = readonly string[] | ((ctx: Pick<ValueContext, "version">) => readonly string[]);
const choices = (values: Choices, ctx: Pick<ValueContext, "version">): readonly string[] =>
  typeof values === "function" ? values(ctx) : values;

export function oneOf(values: Choices): ValueType {
  return {
    kind: "enum",
    parse(raw, prop, ctx) {
      return choices(values, ctx).includes(raw) ? ok(raw) : fail(Msg.noMatch(prop));
    },
    values: (ctx) => choices(values, ctx),
  };
}

/** Comma list whose members come from `values`, e.g. connection-state=established,related. */
export function setOf(values: Choices): ValueType {
  return {
    kind: "set",
    parse(raw, prop, ctx) {
      const parts = raw.split(",");
      if (parts.some((p) => !choices(values, ctx).includes(p))) return fail(Msg.noMatch(prop));
      return ok(parts.join(","));
    },
    values: (ctx) => choices(values, ctx),
  };
}

/** `!` before a value negates the match (firewall matchers). */
export function negatable(inner: ValueType): ValueType {
  return {
    kind: `negatable ${inner.kind}`,
    parse(raw, prop, ctx) {
      const neg = raw.startsWith("!");
      const p = inner.parse(neg ? raw.slice(1) : raw, prop, ctx);
      return isError(p) ? p : ok((neg ? "!" : "") + p.value);
    },
    print(stored, ctx) {
      const neg = stored.startsWith("!");
      const body = neg ? stored.slice(1) : stored;
      return (neg ? "!" : "") + (inner.print ? inner.print(body, ctx) : body);
    },
    ...(inner.values ? { values: inner.values } : {}),
  };
}

/** Any of several types, first that accepts wins; the error is the last one's. */
export function anyOf(...types: ValueType[]): ValueType {
  return {
    kind: types.map((t) => t.kind).join(" | "),
    parse(raw, prop, ctx) {
      let last: Parsed = fail(Msg.invalidValue(prop));
      for (const t of types) {
        last = t.parse(raw, prop, ctx);
        if (!isError(last)) return last;
      }
      return last;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Durations
//
// Input accepted as RouterOS does: "10", "10s", "1d2h3m", "1w", "500ms", "00:10:00", "1d 00:00:00".
// Stored as milliseconds. Printed (our choice, documented in README.md "Durations"):
//   v7: compact units, "1d", "10s", "1d2h3m4s", "0s" (as v7 prints timeouts/intervals in API replies);
//   v6: clock style "00:00:10", "1d 00:00:00" (v6 prints timeouts as [Nd ]HH:MM:SS).
// Both forms are listed in /work/shared/notes/routeros.md ("durations print in several forms").

const UNIT_MS: Record<string, number> = { w: 604800000, d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 };

export function parseDurationMs(raw: string): number | undefined {
  const s = raw.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const clock = /^(?:(\d+)w)?\s*(?:(\d+)d)?\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(s);
  if (clock) {
    const [, w = "0", d = "0", h, m, sec = "0", frac = ""] = clock;
    if (Number(m) > 59 || Number(sec) > 59) return undefined;
    return (
      Number(w) * UNIT_MS.w +
      Number(d) * UNIT_MS.d +
      Number(h) * UNIT_MS.h +
      Number(m) * UNIT_MS.m +
      Number(sec) * 1000 +
      Number(frac.padEnd(3, "0"))
    );
  }
  const re = /(\d+(?:\.\d+)?)(ms|w|d|h|m|s)/gy;
  let total = 0;
  let pos = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(s)) !== null) {
    total += Number(match[1]) * UNIT_MS[match[2]];
    pos = re.lastIndex;
  }
  return pos === s.length && pos > 0 ? Math.round(total) : undefined;
}

export function formatDurationV7(ms: number): string {
  if (ms <= 0) return "0s";
  let rest = ms;
  let out = "";
  for (const unit of ["w", "d", "h", "m", "s", "ms"]) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  return out;
}

export function formatDurationV6(ms: number): string {
  const totalSec = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(totalSec / 86400);
  const h = Math.floor((totalSec % 86400) / 3600);
  const m = Math.floor((totalSec % 3600) / 60);
  const s = totalSec % 60;
  // Sub-second values (netwatch probe timing) keep their milliseconds: "00:00:00.300".
  const millis = Math.max(0, Math.round(ms)) % 1000;
  const clock =
    [h, m, s].map((n) => String(n).padStart(2, "0")).join(":") +
    (millis ? `.${String(millis).padStart(3, "0")}` : "");
  return days > 0 ? `${days}d ${clock}` : clock;
}

export function formatDuration(ms: number, v: RosVersion): string {
  return v.major >= 7 ? formatDurationV7(ms) : formatDurationV6(ms);
}

export const duration: ValueType = {
  kind: "duration",
  parse(raw, prop) {
    const ms = parseDurationMs(raw);
    return ms === undefined ? fail(Msg.invalidValue(prop)) : ok(String(ms));
  },
  print: (stored, ctx) => formatDuration(Number(stored), ctx.version),
};

/** Duration, or one of the named special values (address-list-timeout: none-dynamic / none-static). */
export function durationOr(specials: readonly string[]): ValueType {
  return {
    kind: `duration | ${specials.join(" | ")}`,
    parse: (raw, prop, ctx) => (specials.includes(raw) ? ok(raw) : duration.parse(raw, prop, ctx)),
    print: (stored, ctx) =>
      specials.includes(stored) ? stored : formatDuration(Number(stored), ctx.version),
  };
}

// ---------------------------------------------------------------------------------------------------------
// IPv4

export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** `a.b.c.d/n` -> numbers, or undefined. A bare address is /32. */
export function parsePrefix(s: string): { ip: number; bits: number } | undefined {
  const [addr, bitsText, extra] = s.split("/");
  if (extra !== undefined) return undefined;
  const ip = ipToInt(addr);
  if (ip === undefined) return undefined;
  if (bitsText === undefined) return { ip, bits: 32 };
  if (!/^\d{1,2}$/.test(bitsText) || Number(bitsText) > 32) return undefined;
  return { ip, bits: Number(bitsText) };
}

export function prefixContains(prefix: string, ip: string): boolean {
  const p = parsePrefix(prefix);
  const a = ipToInt(ip);
  if (!p || a === undefined) return false;
  const mask = maskOf(p.bits);
  return (p.ip & mask) >>> 0 === (a & mask) >>> 0;
}

export const ipv4: ValueType = {
  kind: "IPv4 address",
  parse: (raw, prop) => (ipToInt(raw) === undefined ? fail(Msg.invalidValue(prop)) : ok(raw)),
};

/** Interface address as /ip/address keeps it: host part kept, a bare address becomes /32. */
export const hostPrefix: ValueType = {
  kind: "IPv4 address/prefix",
  parse(raw, prop) {
    const p = parsePrefix(raw);
    return p ? ok(`${intToIp(p.ip)}/${p.bits}`) : fail(Msg.invalidValue(prop));
  },
};

/** A network (route dst-address): host bits cleared, always printed with its length. */
export const network: ValueType = {
  kind: "IPv4 network",
  parse(raw, prop) {
    const p = parsePrefix(raw);
    return p ? ok(`${intToIp((p.ip & maskOf(p.bits)) >>> 0)}/${p.bits}`) : fail(Msg.invalidValue(prop));
  },
};

/**
 * Firewall address: address, network or range `a-b`. Networks are printed with host bits cleared and a /32
 * network prints as a bare address, as RouterOS shows firewall addresses.
 */
export const addressOrRange: ValueType = {
  kind: "IPv4 address | network | range",
  parse(raw, prop) {
    const range = /^([\d.]+)-([\d.]+)$/.exec(raw);
    if (range) {
      const a = ipToInt(range[1]);
      const b = ipToInt(range[2]);
      if (a === undefined || b === undefined || a > b) return fail(Msg.invalidValue(prop));
      return ok(`${range[1]}-${range[2]}`);
    }
    const p = parsePrefix(raw);
    if (!p) return fail(Msg.invalidValue(prop));
    const net = intToIp((p.ip & maskOf(p.bits)) >>> 0);
    return ok(p.bits === 32 ? net : `${net}/${p.bits}`);
  },
};

/** Address-list entry address: like a firewall address, or a DNS name (RouterOS resolves it; 6.42+). */
export const listAddress: ValueType = {
  kind: "IPv4 address | network | range | DNS name",
  parse(raw, prop, ctx) {
    const asIp = addressOrRange.parse(raw, prop, ctx);
    if (!isError(asIp)) return asIp;
    if (/^[\d.\-/]+$/.test(raw)) return asIp;
    return /^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_-]{1,63})*$/.test(raw)
      ? ok(raw)
      : fail(Msg.invalidValue(prop));
  },
};

// ---------------------------------------------------------------------------------------------------------
// Ports, protocols, classifiers

export const portList: ValueType = {
  kind: "port list",
  parse(raw, prop) {
    for (const part of raw.split(",")) {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
      if (!m) return fail(Msg.invalidValue(prop));
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo > 65535 || hi > 65535 || lo > hi) return fail(Msg.invalidValue(prop));
    }
    return ok(raw);
  },
};

/** Single port or range (to-ports). */
export const portRange: ValueType = {
  kind: "port | port range",
  parse: (raw, prop, ctx) =>
    raw.includes(",") ? fail(Msg.invalidValue(prop)) : portList.parse(raw, prop, ctx),
};

const PROTOCOLS = [
  "ddp", "egp", "encap", "etherip", "ggp", "gre", "hmp", "icmp", "icmpv6", "idpr-cmtp", "igmp", "ipencap",
  "ipip", "ipsec-ah", "ipsec-esp", "ipv6-encap", "ipv6-frag", "ipv6-nonxt", "ipv6-opts", "ipv6-route",
  "iso-tp4", "l2tp", "ospf", "pim", "pup", "rdp", "rspf", "rsvp", "sctp", "st", "tcp", "udp", "udp-lite",
  "vmtp", "vrrp", "xns-idp", "xtp",
]; // prettier-ignore

export const protocol: ValueType = {
  kind: "protocol name | 0..255",
  parse(raw, prop) {
    if (PROTOCOLS.includes(raw)) return ok(raw);
    if (/^\d{1,3}$/.test(raw) && Number(raw) <= 255) return ok(raw);
    return fail(Msg.noMatch(prop));
  },
};

/**
 * nth=every,packet (RouterOS 3.0+): 1 <= packet <= every. The pre-3.0 form `nth=1,1,0` (counter,every,packet)
 * is refused, see /work/shared/notes/seeds-and-errata.md.
 */
export const nth: ValueType = {
  kind: "every,packet",
  parse(raw, prop) {
    const m = /^(\d+),(\d+)$/.exec(raw);
    if (!m) return fail(Msg.invalidValue(prop));
    const every = Number(m[1]);
    const packet = Number(m[2]);
    if (every < 1 || packet < 1 || packet > every) return fail(Msg.invalidValue(prop));
    return ok(`${every},${packet}`);
  },
};

/** The hash names PCC accepts (routeros.md, "PCC"). */
export const PCC_HASHES = [
  "both-addresses",
  "both-ports",
  "both-addresses-and-ports",
  "src-address",
  "dst-address",
  "src-port",
  "dst-port",
  "src-address-and-port",
  "dst-address-and-port",
] as const;

/** per-connection-classifier=<hash>:<denominator>/<remainder>, 0 <= remainder < denominator. */
export const pcc: ValueType = {
  kind: "hash:denominator/remainder",
  parse(raw, prop) {
    const m = /^([a-z-]+):(\d+)\/(\d+)$/.exec(raw);
    if (!m) return fail(Msg.invalidValue(prop));
    if (!(PCC_HASHES as readonly string[]).includes(m[1])) return fail(Msg.noMatch(prop));
    const den = Number(m[2]);
    const rem = Number(m[3]);
    if (den < 1 || rem >= den) return fail(Msg.invalidValue(prop));
    return ok(`${m[1]}:${den}/${rem}`);
  },
};

// ---------------------------------------------------------------------------------------------------------
// References to names defined elsewhere

export const interfaceRef: ValueType = {
  kind: "interface name",
  parse: (raw, prop, ctx) => (ctx.interfaces().has(raw) ? ok(raw) : fail(Msg.noMatch(prop))),
};

/** Built-in interface lists exist on every router; others must be in /interface/list. */
export const BUILTIN_INTERFACE_LISTS = ["all", "none", "dynamic", "static"];
export const interfaceListRef: ValueType = {
  kind: "interface list name",
  parse: (raw, prop, ctx) =>
    BUILTIN_INTERFACE_LISTS.includes(raw) || ctx.interfaceLists().has(raw)
      ? ok(raw)
      : fail(Msg.noMatch(prop)),
};

/**
 * A routing table / routing mark name. v7: must exist in /routing/table (or be "main"); v6: any name (tables
 * are implicit), see routeros.md "v6 versus v7".
 */
export const tableRef: ValueType = {
  kind: "routing table",
  parse(raw, prop, ctx) {
    if (ctx.version.major < 7) return name.parse(raw, prop, ctx);
    return ctx.routingTables().has(raw) ? ok(raw) : fail(Msg.noMatch(prop));
  },
};

/**
 * /ip/route gateway.
 * v6: comma list of addresses or interface names; a gateway may repeat to weight ECMP (seed 002).
 * v7: one next hop: address, interface, address%interface or address@table. ECMP in v7 is separate routes
 * with the same dst-address and distance (routeros.md table "v6 versus v7"); a comma list is refused.
 */
export const gateway: ValueType = {
  kind: "gateway",
  parse(raw, prop, ctx) {
    const hop = (h: string): boolean => {
      if (ipToInt(h) !== undefined || ctx.interfaces().has(h)) return true;
      const pct = /^([\d.]+)%(.+)$/.exec(h);
      if (pct) return ipToInt(pct[1]) !== undefined && ctx.interfaces().has(pct[2]);
      const at = /^([\d.]+)@(.+)$/.exec(h);
      if (at && ctx.version.major >= 7) return ipToInt(at[1]) !== undefined && ctx.routingTables().has(at[2]);
      return false;
    };
    const hops = raw.split(",");
    if (ctx.version.major >= 7 && hops.length > 1) return fail(Msg.invalidValue(prop));
    for (const h of hops) {
      if (!hop(h)) return fail(/^[\d.%@]+$/.test(h) ? Msg.invalidValue(prop) : Msg.noMatch(prop));
    }
    return ok(raw);
  },
};
