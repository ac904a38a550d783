/**
 * A small interpreter of RouterOS console scripts, for the scripts netwatch runs (up-script, down-script,
 * test-script). It knows the subset the provider writes (provider/routeros/netwatch.ts) and refuses the
 * rest, as a real router's script would fail:
 *
 *   :global NAME   :local NAME EXPR   :set NAME EXPR   :if (EXPR) do={...} else={...}   [:typeof EXPR]
 *   [:len EXPR]   /MENU find|get|enable|disable|remove ...
 *   [find comment="x" comment~"regex" list="x" disabled=no dynamic=yes]
 *   expressions: ($a+1) ($a<100) ($a=3) ($a!="num") ($a>=100), $NAME, numbers, "strings"
 *
 * Statements end at a newline or ";". Scripts run with a policy set (netwatch: read, write, test, reboot,
 * help.mikrotik.com "Netwatch"); a command needing another policy fails, like on a router.
 * Menus reachable from a script: `/ip route`, `/tool netwatch` and `/ip firewall address-list` (rows as
 * printed, dynamic entries included; writes go through `ScriptHost.command`). `remove` is modelled on
 * address lists only (the provider's scripts forget a down link's sticky users).
 */
import { ConfigError } from "./values";

export type ScriptValue = number | string | boolean | string[] | undefined;

export interface ScriptHost {
  /** Global variables (shared by every script run as the same user; netwatch runs them as `*sys`). */
  globals: Map<string, ScriptValue>;
  /** Rows of a menu as printed (with `.id`). */
  rows(menu: string): ReadonlyArray<Record<string, string>>;
  /** A write command on entries of a menu. */
  command(menu: string, verb: ScriptVerb, ids: string[]): void;
}

/** The policies netwatch scripts run with (help.mikrotik.com "Netwatch"). */
export const NETWATCH_POLICY: ReadonlySet<string> = new Set(["read", "write", "test", "reboot"]);

export type ScriptVerb = "enable" | "disable" | "remove";

const MENUS = new Set(["/ip/route", "/tool/netwatch", "/ip/firewall/address-list"]);
const VERBS: Record<string, string> = {
  find: "read",
  get: "read",
  enable: "write",
  disable: "write",
  remove: "write",
};
/** Verbs each menu has in the model (a script's `remove` of a route or a probe is refused). */
const MENU_VERBS: Record<string, ReadonlySet<string>> = {
  "/ip/route": new Set(["find", "get", "enable", "disable"]),
  "/tool/netwatch": new Set(["find", "get", "enable", "disable"]),
  "/ip/firewall/address-list": new Set(["find", "remove"]),
};
/** Yes/no properties `find` compares (printed "true"/"false", written yes/no). */
const FLAGS = new Set(["disabled", "dynamic"]);

type Tok =
  | { t: "nl" }
  | { t: "word"; v: string }
  | { t: "str"; v: string }
  | { t: "var"; v: string }
  | { t: "op"; v: string }
  | { t: "("; v: "(" }
  | { t: ")"; v: ")" }
  | { t: "["; v: "[" }
  | { t: "]"; v: "]" }
  | { t: "{"; v: "{" }
  | { t: "}"; v: "}" };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === " " || c === "\t" || c === "\r") i++;
    else if (c === "\n" || c === ";") {
      out.push({ t: "nl" });
      i++;
    } else if ("()[]{}".includes(c)) {
      out.push({ t: c, v: c } as Tok);
      i++;
    } else if (c === '"') {
      let v = "";
      i++;
      while (i < src.length && src[i] !== '"') {
        if (src[i] === "\\") {
          const e = src[i + 1];
          v += e === "n" ? "\n" : e === "t" ? "\t" : e === "r" ? "\r" : e;
          i += 2;
        } else if (src[i] === "$") throw new ConfigError(`script: variables inside strings are not modelled`);
        else v += src[i++];
      }
      if (src[i] !== '"') throw new ConfigError("script: unterminated string");
      i++;
      out.push({ t: "str", v });
    } else if (c === "$") {
      const m = /^\$([A-Za-z0-9]+)/.exec(src.slice(i));
      if (!m) throw new ConfigError(`script: bad variable at "${src.slice(i, i + 12)}"`);
      out.push({ t: "var", v: m[1] });
      i += m[0].length;
    } else {
      const op = /^(!=|<=|>=|=|<|>|\+|-|~)/.exec(src.slice(i));
      // Words may hold inner hyphens (address-list), never a leading one (an operator).
      const word = /^[A-Za-z0-9_:/.]+(?:-[A-Za-z0-9_:/.]+)*/.exec(src.slice(i));
      const tok: Tok | undefined = word ? { t: "word", v: word[0] } : op ? { t: "op", v: op[0] } : undefined;
      if (!tok) throw new ConfigError(`script: unexpected "${c}"`);
      out.push(tok);
      i += tok.v.length;
    }
  }
  return out;
}

class Runner {
  private pos = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly host: ScriptHost,
    private readonly policy: ReadonlySet<string>,
    private readonly scopes: Array<Map<string, ScriptValue>>,
    private readonly declaredGlobal: Set<string>,
  ) {}

  private peek(): Tok | undefined {
    return this.toks[this.pos];
  }
  private next(): Tok {
    const t = this.toks[this.pos++];
    if (!t) throw new ConfigError("script: unexpected end");
    return t;
  }
  private expect(t: Tok["t"], v?: string): Tok {
    const got = this.next();
    if (got.t !== t || (v !== undefined && "v" in got && got.v !== v))
      throw new ConfigError(`script: expected ${v ?? t}, got ${"v" in got ? got.v : got.t}`);
    return got;
  }

  /** Statements until the end or a closing "}". */
  run(): void {
    for (;;) {
      const t = this.peek();
      if (!t || t.t === "}") return;
      if (t.t === "nl") {
        this.pos++;
        continue;
      }
      this.statement();
    }
  }

  private statement(): void {
    const t = this.next();
    if (t.t !== "word")
      throw new ConfigError(`script: a statement cannot start with ${"v" in t ? t.v : t.t}`);
    switch (t.v) {
      case ":global": {
        const name = (this.expect("word") as { v: string }).v;
        this.declaredGlobal.add(name);
        return;
      }
      case ":local": {
        const name = (this.expect("word") as { v: string }).v;
        this.scopes[this.scopes.length - 1].set(name, this.atEnd() ? undefined : this.expr());
        return;
      }
      case ":set": {
        const name = (this.expect("word") as { v: string }).v;
        this.assign(name, this.expr());
        return;
      }
      case ":if": {
        const cond = this.expr();
        if (typeof cond !== "boolean") throw new ConfigError("script: :if needs a true/false condition");
        this.expect("word", "do");
        this.expect("op", "=");
        this.block(cond);
        if (this.peek()?.t === "word" && (this.peek() as { v: string }).v === "else") {
          this.pos++;
          this.expect("op", "=");
          this.block(!cond);
        }
        return;
      }
      default:
        if (t.v.startsWith("/")) {
          this.pos--;
          this.menuCommand(undefined);
          return;
        }
        throw new ConfigError(`script: command ${t.v} is not modelled`);
    }
  }

  private atEnd(): boolean {
    const t = this.peek();
    return !t || t.t === "nl" || t.t === "}" || t.t === "]";
  }

  /** `{ ... }`, run when `live` (a skipped block is still parsed). */
  private block(live: boolean): void {
    this.expect("{");
    if (live) {
      this.scopes.push(new Map());
      this.run();
      this.scopes.pop();
    } else {
      let depth = 1;
      while (depth > 0) {
        const t = this.next();
        if (t.t === "{") depth++;
        if (t.t === "}") depth--;
      }
      this.pos--;
    }
    this.expect("}");
  }

  private lookup(name: string): ScriptValue {
    for (let i = this.scopes.length - 1; i >= 0; i--)
      if (this.scopes[i].has(name)) return this.scopes[i].get(name);
    if (this.declaredGlobal.has(name)) return this.host.globals.get(name);
    throw new ConfigError(`script: variable ${name} is not declared`);
  }

  private assign(name: string, value: ScriptValue): void {
    for (let i = this.scopes.length - 1; i >= 0; i--)
      if (this.scopes[i].has(name)) {
        this.scopes[i].set(name, value);
        return;
      }
    if (!this.declaredGlobal.has(name)) throw new ConfigError(`script: variable ${name} is not declared`);
    this.host.globals.set(name, value);
  }

  private expr(): ScriptValue {
    let left = this.primary();
    while (this.peek()?.t === "op") {
      const op = (this.next() as { v: string }).v;
      const right = this.primary();
      left = binary(op, left, right);
    }
    return left;
  }

  private primary(): ScriptValue {
    const t = this.next();
    switch (t.t) {
      case "(": {
        const v = this.expr();
        this.expect(")");
        return v;
      }
      case "[": {
        const v = this.substitution();
        this.expect("]");
        return v;
      }
      case "var":
        return this.lookup(t.v);
      case "str":
        return t.v;
      case "word":
        if (/^\d+$/.test(t.v)) return Number(t.v);
        if (t.v === "true" || t.v === "false") return t.v === "true";
        return t.v;
      default:
        throw new ConfigError(`script: unexpected ${"v" in t ? t.v : t.t} in an expression`);
    }
  }

  /** `[...]`: `:typeof X`, or a menu command whose result is the value. */
  private substitution(menu?: string): ScriptValue {
    const t = this.peek();
    if (t?.t === "word" && t.v === ":typeof") {
      this.pos++;
      return typeOf(this.expr());
    }
    if (t?.t === "word" && t.v === ":len") {
      this.pos++;
      const v = this.expr();
      if (Array.isArray(v) || typeof v === "string") return v.length;
      throw new ConfigError(`script: :len of ${typeOf(v)} is not modelled`);
    }
    return this.menuCommand(menu);
  }

  /** `/a b verb args` (or `verb args` relative to `menu`, inside a command's brackets). */
  private menuCommand(menu: string | undefined): ScriptValue {
    const words: string[] = [];
    while (this.peek()?.t === "word" && !((this.peek() as { v: string }).v in VERBS))
      words.push((this.next() as { v: string }).v);
    const next = this.peek();
    if (next?.t !== "word") throw new ConfigError(`script: command ${words.join(" ")} is not modelled`);
    const verb = (this.next() as { v: string }).v;
    const path = words.length ? words.join("/").replace(/\/+/g, "/") : menu;
    if (!path || !words.every((w, i) => (i === 0 ? w.startsWith("/") : !w.startsWith("/"))))
      throw new ConfigError(`script: ${[...words, verb].join(" ")} is not a menu command`);
    if (!MENUS.has(path)) throw new ConfigError(`script: menu ${path} is not modelled`);
    if (!MENU_VERBS[path].has(verb)) throw new ConfigError(`script: ${path} ${verb} is not modelled`);
    const need = VERBS[verb];
    if (!this.policy.has(need))
      throw new ConfigError(`script: ${path} ${verb} needs the ${need} policy, which this script lacks`);
    if (verb === "find") return this.find(path);
    // The item: [find ...] or an id.
    let ids: ScriptValue;
    if (this.peek()?.t === "[") {
      this.pos++;
      ids = this.substitution(path);
      this.expect("]");
    } else ids = this.primary();
    const list = Array.isArray(ids) ? ids : typeof ids === "string" ? [ids] : [];
    if (verb === "get") {
      const prop = (this.expect("word") as { v: string }).v;
      if (list.length !== 1) throw new ConfigError(`script: ${path} get: no such item`);
      return this.host.rows(path).find((r) => r[".id"] === list[0])?.[prop];
    }
    if (!this.atEnd()) throw new ConfigError(`script: ${path} ${verb}: unexpected arguments`);
    this.host.command(path, verb as ScriptVerb, list);
    return undefined;
  }

  /** `find prop="v" prop~"regex" disabled=yes|no dynamic=yes|no` (all conditions must hold). */
  private find(path: string): string[] {
    const conds: Array<(r: Record<string, string>) => boolean> = [];
    while (!this.atEnd()) {
      const prop = (this.expect("word") as { v: string }).v;
      const op = (this.expect("op") as { v: string }).v;
      const raw = this.primary();
      const value = String(raw);
      if (op === "~") {
        const re = new RegExp(value);
        conds.push((r) => re.test(r[prop] ?? ""));
      } else if (op === "=" && FLAGS.has(prop)) {
        if (!["yes", "no", "true", "false"].includes(value))
          throw new ConfigError(`script: find ${prop}=${value}: not a yes/no value`);
        const want = value === "yes" || value === "true";
        conds.push((r) => (r[prop] === "true") === want);
      } else if (op === "=") conds.push((r) => (r[prop] ?? "") === value);
      else throw new ConfigError(`script: find ${prop}${op}: not modelled`);
    }
    return this.host
      .rows(path)
      .filter((r) => conds.every((c) => c(r)))
      .map((r) => r[".id"]);
  }
}

function typeOf(v: ScriptValue): string {
  if (v === undefined) return "nothing";
  if (typeof v === "number") return "num";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v)) return "array";
  return "str";
}

function binary(op: string, a: ScriptValue, b: ScriptValue): ScriptValue {
  if (op === "=") return a === b;
  if (op === "!=") return a !== b;
  if (typeof a !== "number" || typeof b !== "number")
    throw new ConfigError(`script: ${String(a)} ${op} ${String(b)} needs two numbers`);
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "<":
      return a < b;
    case ">":
      return a > b;
    case "<=":
      return a <= b;
    case ">=":
      return a >= b;
    default:
      throw new ConfigError(`script: operator ${op} is not modelled`);
  }
}

/** Runs `source` with `policy`; throws ConfigError for anything a router would refuse or we do not model. */
const parsed = new Map<string, Tok[]>();

export function runScript(source: string, host: ScriptHost, policy: ReadonlySet<string>): void {
  // The same few scripts run every round: tokenize each once.
  let toks = parsed.get(source);
  if (!toks) parsed.set(source, (toks = tokenize(source)));
  const runner = new Runner(toks, host, policy, [new Map()], new Set());
  runner.run();
}
