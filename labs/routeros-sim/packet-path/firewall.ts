/**
 * Firewall rule evaluation for `/ip/firewall/mangle` and `/ip/firewall/nat`.
 *
 * Rules are evaluated top to bottom within a chain; `jump` enters a custom chain, `return` (or falling off
 * the end of a custom chain) goes back, `accept` and terminal actions end the hook. Per RouterOS's mangle
 * documentation, marking actions continue only with `passthrough=yes`, and `add-src-to-address-list` /
 * `add-dst-to-address-list` "work in passthrough mode" (help.mikrotik.com, Address-lists).
 *
 * `nth=every,packet` (RouterOS 3.0+): every rule owns its counter; the counter only advances for packets
 * that reach the rule and satisfy all its other matchers; it matches when the counter equals `packet`
 * (packets are numbered 1..every) and wraps after `every`. Hence rules in sequence see only what earlier
 * rules left over (the seed 003 trap).
 */
import { hash32 } from "./hash";
import type { ConnectionState } from "./types";
import {
  ConfigError,
  flag,
  inRange,
  list,
  negation,
  parseAddrRange,
  parseBool,
  parseNth,
  parsePcc,
  parsePorts,
  protocolNumber,
  intToIp,
} from "./values";

/** The packet as a firewall hook sees it. */
export interface FwPacket {
  src: number;
  dst: number;
  protocol: number;
  srcPort?: number;
  dstPort?: number;
  inInterface?: string;
  outInterface?: string;
  routingMark?: string;
  packetMark?: string;
}

export interface FwConn {
  mark?: string;
  state: ConnectionState;
  srcNat: boolean;
  dstNat: boolean;
}

/** What a matcher may consult besides the packet. */
export interface MatchEnv {
  pkt: FwPacket;
  conn: FwConn;
  inList(list: string, ip: number): boolean;
  addressTypes(ip: number): Set<string>;
  interfaceInList(list: string, iface: string | undefined): boolean;
}

type Matcher = (env: MatchEnv) => boolean;

export interface CompiledRule {
  /** `.id`, or `<menu>#<index>` for hand-written entries without one. */
  id: string;
  chain: string;
  action: string;
  matchers: Matcher[];
  nth?: { every: number; packet: number };
  props: Record<string, string>;
}

/** Properties that are not matchers. */
const NON_MATCHERS = new Set([
  ".id",
  ".nextid",
  ".about",
  "chain",
  "action",
  "comment",
  "disabled",
  "dynamic",
  "invalid",
  "bytes",
  "packets",
  "log",
  "log-prefix",
  "passthrough",
  "new-connection-mark",
  "new-routing-mark",
  "new-packet-mark",
  "address-list",
  "address-list-timeout",
  "jump-target",
  "to-addresses",
  "to-ports",
  "new-mss",
  "new-ttl",
  "new-dscp",
  "new-priority",
  "sniff-target",
  "sniff-target-port",
  "sniff-id",
  "place-before",
  "copy-from",
  "hw-offload",
  "randomise-ports",
]);

/** Marking-type actions: they stop the chain unless `passthrough=yes`. */
export const PASSTHROUGH_ACTIONS = new Set([
  "mark-connection",
  "mark-routing",
  "mark-packet",
  "change-mss",
  "change-ttl",
  "change-dscp",
  "clear-df",
  "set-priority",
  "strip-ipv4-options",
  "sniff-tzsp",
  "sniff-pc",
]);

/** Actions of both menus. */
const COMMON_ACTIONS = [
  "accept",
  "passthrough",
  "log",
  "jump",
  "return",
  "add-src-to-address-list",
  "add-dst-to-address-list",
];

const MANGLE_ACTIONS = new Set([...COMMON_ACTIONS, ...PASSTHROUGH_ACTIONS]);

const NAT_ACTIONS = new Set([
  ...COMMON_ACTIONS,
  "masquerade",
  "src-nat",
  "dst-nat",
  "redirect",
  "netmap",
  "same",
  "endpoint-independent-nat",
]);

export interface RuleCompileOptions {
  major: 6 | 7;
  unsupportedMatchers: "throw" | "ignore";
  tables: Map<string, { fib: boolean }>;
}

function negatable(value: string, test: (v: string) => Matcher): Matcher {
  const { negate, value: v } = negation(value);
  const inner = test(v);
  return negate ? (env) => !inner(env) : inner;
}

function markMatcher(value: string, get: (env: MatchEnv) => string | undefined): Matcher {
  return negatable(value, (v) =>
    v === "no-mark" ? (env) => get(env) === undefined : (env) => get(env) === v,
  );
}

function portsMatcher(value: string, get: (env: MatchEnv) => Array<number | undefined>): Matcher {
  return negatable(value, (v) => {
    const ranges = parsePorts(v);
    return (env) => get(env).some((p) => p !== undefined && ranges.some(([lo, hi]) => p >= lo && p <= hi));
  });
}

function pccField(env: MatchEnv, hash: string): string {
  const { pkt } = env;
  const src = intToIp(pkt.src);
  const dst = intToIp(pkt.dst);
  const sp = String(pkt.srcPort ?? 0);
  const dp = String(pkt.dstPort ?? 0);
  switch (hash) {
    case "src-address":
      return src;
    case "dst-address":
      return dst;
    case "both-addresses":
      return `${src}|${dst}`;
    case "src-port":
      return sp;
    case "dst-port":
      return dp;
    case "both-ports":
      return `${sp}|${dp}`;
    case "src-address-and-port":
      return `${src}:${sp}`;
    case "dst-address-and-port":
      return `${dst}:${dp}`;
    default:
      return `${src}:${sp}|${dst}:${dp}`;
  }
}

/** The two ends of a packet and its two interfaces, for the matchers that come in pairs. */
const ENDS: Record<string, (pkt: FwPacket) => { address: number; port?: number }> = {
  src: (pkt) => ({ address: pkt.src, port: pkt.srcPort }),
  dst: (pkt) => ({ address: pkt.dst, port: pkt.dstPort }),
};
const INTERFACES: Record<string, (pkt: FwPacket) => string | undefined> = {
  in: (pkt) => pkt.inInterface,
  out: (pkt) => pkt.outInterface,
};

/** `src-address`, `dst-port`, `in-interface-list`, ...: one definition for both of a pair. */
function pairedMatcher(name: string, value: string): Matcher | undefined {
  const i = /^(in|out)-interface(-list)?$/.exec(name);
  if (i) {
    const iface = (env: MatchEnv) => INTERFACES[i[1]](env.pkt);
    return i[2]
      ? negatable(value, (v) => (env) => env.interfaceInList(v, iface(env)))
      : negatable(value, (v) => (env) => iface(env) === v);
  }
  const m = /^(src|dst)-(address|address-list|address-type|port)$/.exec(name);
  if (!m) return undefined;
  const end = (env: MatchEnv) => ENDS[m[1]](env.pkt);
  switch (m[2]) {
    case "address":
      return negatable(value, (v) => {
        const r = parseAddrRange(v);
        return (env) => inRange(end(env).address, r);
      });
    case "address-list":
      return negatable(value, (v) => (env) => env.inList(v, end(env).address));
    case "address-type":
      return negatable(value, (v) => {
        const types = list(v);
        return (env) => types.some((t) => env.addressTypes(end(env).address).has(t));
      });
    default:
      return portsMatcher(value, (env) => [end(env).port]);
  }
}

function compileMatcher(name: string, value: string, ruleId: string): Matcher | undefined {
  const paired = pairedMatcher(name, value);
  if (paired) return paired;
  switch (name) {
    case "connection-state":
      return negatable(value, (v) => {
        const states = list(v);
        return (env) => states.includes(env.conn.state);
      });
    case "connection-nat-state":
      return negatable(value, (v) => {
        const states = list(v);
        return (env) =>
          (states.includes("srcnat") && env.conn.srcNat) || (states.includes("dstnat") && env.conn.dstNat);
      });
    case "connection-mark":
      return markMatcher(value, (env) => env.conn.mark);
    case "routing-mark":
      return markMatcher(value, (env) => env.pkt.routingMark);
    case "packet-mark":
      return markMatcher(value, (env) => env.pkt.packetMark);
    case "protocol":
      return negatable(value, (v) => {
        const n = protocolNumber(v);
        return (env) => env.pkt.protocol === n;
      });
    case "port":
      return portsMatcher(value, (env) => [env.pkt.srcPort, env.pkt.dstPort]);
    case "per-connection-classifier":
      return negatable(value, (v) => {
        const pcc = parsePcc(v);
        return (env) => hash32(pccField(env, pcc.hash)) % pcc.denominator === pcc.remainder;
      });
    case "ipsec-policy": {
      // IPsec is not modelled: every packet is "none".
      const parts = list(value);
      if (parts.length !== 2 || !["in", "out"].includes(parts[0]) || !["none", "ipsec"].includes(parts[1])) {
        throw new ConfigError(`rule ${ruleId}: bad ipsec-policy=${value}`);
      }
      return () => parts[1] === "none";
    }
    default:
      return undefined;
  }
}

export function compileRules(
  entries: Array<Record<string, string>>,
  menu: "mangle" | "nat",
  opts: RuleCompileOptions,
): CompiledRule[] {
  const out: CompiledRule[] = [];
  entries.forEach((e, index) => {
    const id = e[".id"] ?? `${menu}#${index}`;
    if (flag(e, "disabled") || flag(e, "invalid")) return;
    const chain = e.chain;
    if (!chain) throw new ConfigError(`${menu} rule ${id} has no chain`);
    const action = e.action || "accept";
    const allowed = menu === "mangle" ? MANGLE_ACTIONS : NAT_ACTIONS;
    if (!allowed.has(action)) throw new ConfigError(`${menu} rule ${id}: action=${action} is not modelled`);
    if (action === "jump" && !e["jump-target"])
      throw new ConfigError(`${menu} rule ${id}: jump without jump-target`);
    if (action === "mark-routing") {
      const mark = e["new-routing-mark"];
      if (!mark) throw new ConfigError(`mangle rule ${id}: mark-routing without new-routing-mark`);
      if (opts.major === 7 && !opts.tables.has(mark)) {
        throw new ConfigError(
          `mangle rule ${id}: new-routing-mark=${mark} names no routing table; RouterOS v7 requires "/routing/table add name=${mark} fib"`,
        );
      }
    }
    if (action === "mark-connection" && !e["new-connection-mark"]) {
      throw new ConfigError(`mangle rule ${id}: mark-connection without new-connection-mark`);
    }
    if (action === "mark-packet" && !e["new-packet-mark"]) {
      throw new ConfigError(`mangle rule ${id}: mark-packet without new-packet-mark`);
    }
    if (
      (action === "add-src-to-address-list" || action === "add-dst-to-address-list") &&
      !e["address-list"]
    ) {
      throw new ConfigError(`${menu} rule ${id}: ${action} without address-list`);
    }
    if (e.passthrough !== undefined) parseBool(e.passthrough, true);
    const matchers: Matcher[] = [];
    let nth: CompiledRule["nth"];
    for (const [name, value] of Object.entries(e)) {
      if (NON_MATCHERS.has(name) || value === "") continue;
      if (name === "nth") {
        nth = parseNth(value);
        continue;
      }
      const m = compileMatcher(name, value, id);
      if (m) matchers.push(m);
      else if (opts.unsupportedMatchers === "throw") {
        throw new ConfigError(`${menu} rule ${id}: matcher ${name}=${value} is not modelled`);
      }
    }
    out.push({ id, chain, action, matchers, nth, props: e });
  });
  return out;
}

/** What the hook-specific action handler decides after performing an action. */
export type ActionOutcome = "continue" | "stop";

export interface ChainRun {
  /** `.id`s of the rules that matched, in order. */
  matched: string[];
}

/**
 * Runs the built-in chain `start` (and whatever it jumps to) for one packet. `perform` executes every
 * action other than accept/passthrough/log/jump/return and says whether evaluation continues.
 * `counters` holds the per-rule nth counters.
 */
export function runChain(
  rules: CompiledRule[],
  start: string,
  env: MatchEnv,
  counters: Map<string, number>,
  perform: (rule: CompiledRule) => ActionOutcome,
  run: ChainRun,
): void {
  const byChain = new Map<string, CompiledRule[]>();
  for (const r of rules) {
    const l = byChain.get(r.chain) ?? [];
    l.push(r);
    byChain.set(r.chain, l);
  }
  const stack: Array<{ chain: CompiledRule[]; index: number }> = [
    { chain: byChain.get(start) ?? [], index: 0 },
  ];
  while (stack.length > 0) {
    if (stack.length > 32)
      throw new ConfigError(`jump depth above 32 starting from chain ${start} (a jump loop?)`);
    const frame = stack[stack.length - 1];
    if (frame.index >= frame.chain.length) {
      stack.pop(); // end of a custom chain: implicit return
      continue;
    }
    const rule = frame.chain[frame.index++];
    if (!rule.matchers.every((m) => m(env))) continue;
    if (rule.nth) {
      const key = `${rule.id}|${rule.nth.every},${rule.nth.packet}`;
      const count = (counters.get(key) ?? 0) + 1;
      counters.set(key, count >= rule.nth.every ? 0 : count);
      if (count !== rule.nth.packet) continue;
    }
    run.matched.push(rule.id);
    switch (rule.action) {
      case "accept":
        return;
      case "passthrough":
      case "log":
        continue;
      case "return":
        stack.pop();
        continue;
      case "jump":
        stack.push({ chain: byChain.get(rule.props["jump-target"]) ?? [], index: 0 });
        continue;
      default:
        if (perform(rule) === "stop") return;
    }
  }
}
