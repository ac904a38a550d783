/**
 * Value checks shared by the spec schema and the backends: IPv4 addresses and prefixes (ipaddr.js does the
 * parsing), durations (ms does the parsing), and the character set allowed in names that end up in device
 * configuration.
 */
import * as ipaddr from "ipaddr.js";
import ms from "ms";

/** A dotted-quad IPv4 address (no leading zeros, no shorthand such as "10.1"). */
export function isIPv4(value: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(value);
}

/** "a.b.c.d/len" or a bare address (a /32). Returns the canonical network form, or undefined. */
export function canonicalPrefix(value: string): string | undefined {
  const [addr, len, ...rest] = value.split("/");
  if (rest.length > 0 || !isIPv4(addr)) return undefined;
  if (len === undefined) return `${addr}/32`;
  if (!/^\d{1,2}$/.test(len) || Number(len) > 32) return undefined;
  return `${ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${len}`).toString()}/${len}`;
}

/** True when the address lies inside the prefix ("a.b.c.d/len"). */
export function prefixContains(prefix: string, address: string): boolean {
  // Cross-field checks also run on fields that failed their own check: invalid values contain nothing.
  if (canonicalPrefix(prefix) === undefined || !isIPv4(address)) return false;
  const [net, len] = ipaddr.IPv4.parseCIDR(prefix);
  return ipaddr.IPv4.parse(address).match(net, len);
}

/** True when two prefixes share at least one address. */
export function prefixesOverlap(a: string, b: string): boolean {
  if (canonicalPrefix(a) === undefined || canonicalPrefix(b) === undefined) return false;
  const [na, la] = ipaddr.IPv4.parseCIDR(a);
  const [nb, lb] = ipaddr.IPv4.parseCIDR(b);
  return na.match(nb, Math.min(la, lb));
}

/**
 * A duration string as a user writes it ("1s", "500ms", "10m", "1d") in whole milliseconds, or undefined.
 * Only the compact form with a unit is accepted: a bare number would be ambiguous (seconds? ms?).
 */
export function parseDuration(value: string): number | undefined {
  if (!/^\d+(\.\d+)?(ms|s|m|h|d|w)$/.test(value)) return undefined;
  const result = ms(value as ms.StringValue);
  return Number.isFinite(result) && Number.isInteger(result) ? result : undefined;
}

/**
 * Names written into device configuration (link names, the owner tag, interface names) are restricted to
 * a conservative ASCII set: node-routeros encodes strings as win1252, RouterOS scripts and comments need
 * no quoting for them, and on Linux they never need shell or nft quoting.
 */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;

export function describeUnsafeName(value: string): string {
  if (value.length === 0) return "must not be empty";
  const bad = [...value].find((c) => !/[A-Za-z0-9_.@-]/.test(c));
  const shown = bad === undefined ? "" : JSON.stringify(bad);
  return bad !== undefined
    ? `contains ${shown}: only letters, digits and "_", ".", "@", "-" are allowed (no spaces, quotes or control characters)`
    : "must start with a letter or a digit";
}

/** The characters of Windows-1252 above 0x7F: 0x80–0x9F (27 assigned), then 0xA0–0xFF as in Latin-1. */
const WIN1252_HIGH = new Set([
  ..."€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ",
  ...Array.from({ length: 0x60 }, (_, i) => String.fromCharCode(0xa0 + i)),
]);

/**
 * True when every character of the value has a Windows-1252 byte. node-routeros encodes every API word in
 * that codepage and sends any other character as "?": such a value would reach the router altered.
 */
export function isWin1252(value: string): boolean {
  for (const c of value) if (c > "\x7f" && !WIN1252_HIGH.has(c)) return false;
  return true;
}
