/**
 * The RouterOS API server: TCP or TLS, login (both methods), tags, /cancel, /quit, keepalive, replies
 * (`!re`/`!done`/`!trap`/`!fatal`/`!empty`), fault injection, the command log and counters.
 * Menu commands themselves are executed by the engine (engine.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import * as net from "node:net";
import * as tls from "node:tls";
import { RosEngine, RosTrapError, Trap } from "./engine";
import { Msg, categoryOf } from "./messages";
import { ProtocolError, SentenceDecoder, codepage, encodeSentence, parseSentence } from "./protocol";
import { RosVersion, atLeast, parseVersion } from "./version";

export interface RosSimOptions {
  /** RouterOS version, e.g. "6.49.10", "7.16.2", "7.18" (default "7.16.2"); major/minor drive behaviour. */
  version?: string;
  /** The API user, as typed in Winbox: held in the router's codepage (Windows-1252) and compared as bytes. */
  username?: string;
  password?: string;
  /** Force the pre-6.43 challenge/response login; default: by version (< 6.43). */
  legacyLogin?: boolean;
  /** Serve TLS (api-ssl) instead of plain TCP. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Also serve api-ssl (TLS) on a second port, over the same router state (as a router serves both). */
  apiSsl?: { key: string | Buffer; cert: string | Buffer };
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Existing interfaces; default ether1..ether5. */
  interfaces?: Array<{ name: string; type?: string }>;
  /** Entries present before the first connection, per menu, as API attributes (validated like `add`). */
  seed?: Record<string, Array<Record<string, string>>>;
  /** /system/identity name (default "MikroTik"). */
  identity?: string;
  /** /system/resource board-name (default "CHR"). */
  boardName?: string;
  /** Clock in ms (default Date.now); drives address-list timeouts and uptime. */
  clock?: () => number;
  /** Words longer than this close the connection (default 64 MiB). */
  maxWordLength?: number;
}

export interface LogEntry {
  conn: number;
  command: string;
  attrs: Record<string, string>;
  queries: string[];
  tag?: string;
  at: number;
}

export interface SimStats {
  /** Menu commands received (not /login, /cancel, /quit or keepalive). */
  commands: number;
  /** add/set/remove/move/unset/enable/disable received. */
  writes: number;
  /** print/getall received. */
  reads: number;
  /** Connections accepted. */
  connections: number;
}

export interface DropOptions {
  /** Apply the n-th command to the state before closing (the client never learns it succeeded). */
  applyBefore?: boolean;
  /** Close with a TCP RST instead of a FIN. */
  reset?: boolean;
}

export interface SimFaults {
  /** Delay each reply; a function gets the command word. Replies to tagged commands may then interleave. */
  latencyMs(ms: number | ((command: string) => number)): void;
  /** Close the connection instead of answering the n-th menu command from now (across connections). */
  dropAfter(n: number | null, opts?: DropOptions): void;
  /** Close the connection instead of answering `/login`, until cleared (null); `reset` closes with a RST. */
  dropLogin(opts?: Pick<DropOptions, "reset"> | null): void;
  /** Answer the n-th menu command from now with `!fatal` and close. */
  fatalAfter(n: number | null, message?: string): void;
  /** Answer matching menu commands with `!trap` (then `!done`) instead of executing them. */
  trapOn(
    match: (command: string, attrs: Record<string, string>) => boolean,
    message: string,
    category?: number,
  ): void;
  clear(): void;
}

export interface SimEdit {
  /** Add as an operator would in Winbox (validated, not logged); returns the new `.id`. */
  add(menu: string, attrs: Record<string, string>): string;
  set(menu: string, id: string, attrs: Record<string, string>): void;
  remove(menu: string, id: string): void;
  /** Set a netwatch entry's probe result (`status`, and `since` = now). */
  netwatchStatus(id: string, status: "up" | "down" | "unknown"): void;
}

export interface RouterOsSim {
  host: string;
  port: number;
  /** The api-ssl port, when served beside the plain one (`apiSsl`). */
  tlsPort?: number;
  version: RosVersion;
  close(): Promise<void>;
  /** Items of a menu in print order, as `print` returns them (with `.id`). */
  entries(menu: string): Array<Record<string, string>>;
  /** Every sentence received, in order. */
  log: LogEntry[];
  stats(): SimStats;
  resetStats(): void;
  faults: SimFaults;
  edit: SimEdit;
  /**
   * Rows `menu` prints besides its own, made at each print (printed form, `.id` included; read-only, not
   * in `entries`): e.g. `/ip/firewall/connection` from a data plane. `undefined` removes them.
   */
  live(menu: string, rows: (() => Array<Record<string, string>>) | undefined): void;
}

export const DEFAULT_VERSION = "7.16.2";
const DEFAULT_INTERFACES = ["ether1", "ether2", "ether3", "ether4", "ether5"].map((name) => ({ name }));
export const DEFAULT_FATAL_MESSAGE = "simulated fatal error";

interface Pending {
  timer: NodeJS.Timeout;
  tag?: string;
}

interface SimState {
  engine: RosEngine;
  version: RosVersion;
  username: string;
  password: string;
  legacyOnly: boolean;
  acceptsResponse: boolean;
  latency: (command: string) => number;
  drop: { remaining: number; opts: DropOptions } | null;
  dropLogin: Pick<DropOptions, "reset"> | null;
  fatal: { remaining: number; message: string } | null;
  traps: Array<{ match: (command: string, attrs: Record<string, string>) => boolean; trap: Trap }>;
  stats: SimStats;
  log: LogEntry[];
  clock: () => number;
  maxWordLength?: number;
}

type Action =
  | { kind: "reply"; sentences: string[][] }
  | { kind: "drop"; apply?: () => void; reset: boolean }
  | { kind: "none" };

class Connection {
  private readonly decoder: SentenceDecoder;
  private loggedIn = false;
  private challenge?: Buffer;
  private readonly pending = new Set<Pending>();
  private closed = false;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly sim: SimState,
    private readonly onClose: (c: Connection) => void,
  ) {
    this.decoder = new SentenceDecoder({ maxWordLength: sim.maxWordLength });
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => this.teardown());
  }

  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending) clearTimeout(p.timer);
    this.pending.clear();
    this.onClose(this);
  }

  private onData(chunk: Buffer): void {
    let sentences: string[][];
    try {
      sentences = this.decoder.push(chunk);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      // Not a RouterOS text: the router drops such a connection; we say why before closing.
      this.fatal(`protocol error: ${e.message}`);
      return;
    }
    for (const words of sentences) {
      if (this.closed) return;
      if (words.length > 0) this.onSentence(words);
    }
  }

  private onSentence(words: string[]): void {
    const s = parseSentence(words);
    const sim = this.sim;
    sim.log.push({
      conn: this.id,
      command: s.command,
      attrs: s.attrs,
      queries: s.queries,
      tag: s.tag,
      at: sim.clock(),
    });

    if (s.command === "/login") {
      const drop = sim.dropLogin;
      return this.schedule(s.command, s.tag, () =>
        drop ? { kind: "drop", reset: !!drop.reset } : this.login(s.attrs, s.tag),
      );
    }
    if (!this.loggedIn) return this.fatal(Msg.notLoggedIn);
    if (s.command === "/quit") return this.fatal(Msg.sessionTerminated);
    if (s.command === "/cancel") return this.cancel(s.attrs.tag, s.tag);
    // node-routeros' keepalive sentence (RouterOSAPI.keepaliveBy / holdConnection): `#` plus a tag.
    if (s.command === "#") return this.schedule(s.command, s.tag, () => reply([done(s.tag)]));

    sim.stats.commands++;
    const verb = s.command.slice(s.command.lastIndexOf("/") + 1);
    if (verb === "print" || verb === "getall") sim.stats.reads++;
    else if (["add", "set", "remove", "move", "unset", "enable", "disable"].includes(verb))
      sim.stats.writes++;

    const fatal = countDown(sim, "fatal");
    const drop = countDown(sim, "drop");
    const injected = sim.traps.find((t) => t.match(s.command, s.attrs));
    this.schedule(s.command, s.tag, (): Action => {
      if (fatal) {
        this.fatal(fatal.message);
        return { kind: "none" };
      }
      const run = (): string[][] => {
        if (injected) return [trapSentence(s.tag, injected.trap), done(s.tag)];
        return this.execute(s.command, s.attrs, s.queries, s.stray, s.tag);
      };
      if (drop) {
        return {
          kind: "drop",
          apply: drop.opts.applyBefore ? () => void run() : undefined,
          reset: !!drop.opts.reset,
        };
      }
      return reply(run());
    });
  }

  private execute(
    command: string,
    attrs: Record<string, string>,
    queries: string[],
    stray: string[],
    tag?: string,
  ) {
    try {
      if (stray.length > 0)
        throw new RosTrapError([{ message: Msg.unknownParameter(this.sim.version, stray[0]) }]);
      const result = this.sim.engine.execute(command, attrs, queries);
      const out = result.re.map((item) => sentence("!re", tag, item));
      // RouterOS 7.18+ answers a print that matched nothing with !empty before !done (routeros.md).
      if (
        result.kind === "read" &&
        out.length === 0 &&
        !("ret" in result.done) &&
        atLeast(this.sim.version, "7.18")
      ) {
        out.push(sentence("!empty", tag, {}));
      }
      out.push(sentence("!done", tag, result.done));
      return out;
    } catch (e) {
      if (!(e instanceof RosTrapError)) throw e;
      return [...e.traps.map((t) => trapSentence(tag, t)), done(tag)];
    }
  }

  private login(attrs: Record<string, string>, tag?: string): Action {
    const sim = this.sim;
    const refuse = (): Action =>
      reply([trapSentence(tag, { message: Msg.badLogin(sim.version) }), done(tag)]);
    if (attrs.response !== undefined) {
      const challenge = this.challenge;
      this.challenge = undefined;
      if (!challenge || !sim.acceptsResponse || attrs.name !== sim.username) return refuse();
      const md5 = createHash("md5").update(
        Buffer.concat([Buffer.from([0]), Buffer.from(sim.password, "latin1"), challenge]),
      );
      if (attrs.response.toLowerCase() !== `00${md5.digest("hex")}`) return refuse();
      this.loggedIn = true;
      return reply([done(tag)]);
    }
    if (!sim.legacyOnly && attrs.password !== undefined) {
      if (attrs.name !== sim.username || attrs.password !== sim.password) return refuse();
      this.loggedIn = true;
      return reply([done(tag)]);
    }
    // Pre-6.43 login, or /login without a password on any version (messages.ts [C]): a challenge.
    this.challenge = randomBytes(16);
    return reply([sentence("!done", tag, { ret: this.challenge.toString("hex") })]);
  }

  /** /cancel =tag=N: N gets `!trap =category=2 =message=interrupted`, then /cancel's `!done`, then N's. */
  private cancel(target: string | undefined, tag?: string): void {
    const victims = [...this.pending].filter((p) => target === undefined || p.tag === target);
    const out: string[][] = [];
    for (const p of victims) {
      clearTimeout(p.timer);
      this.pending.delete(p);
      out.push(trapSentence(p.tag, { message: Msg.interrupted, category: 2 }));
    }
    out.push(done(tag));
    for (const p of victims) out.push(done(p.tag));
    this.write(out);
  }

  /** Run `act` after the configured latency (at once when it is 0) and carry out what it returns. */
  private schedule(command: string, tag: string | undefined, act: () => Action): void {
    const delay = Math.max(0, this.sim.latency(command));
    const carryOut = (): void => {
      if (this.closed) return;
      const action = act();
      if (action.kind === "reply") this.write(action.sentences);
      else if (action.kind === "drop") {
        action.apply?.();
        if (action.reset) this.socket.resetAndDestroy();
        else this.socket.destroy();
        this.teardown();
      }
    };
    if (delay === 0) return carryOut();
    const p: Pending = {
      tag,
      timer: setTimeout(() => {
        this.pending.delete(p);
        carryOut();
      }, delay),
    };
    this.pending.add(p);
  }

  private write(sentences: string[][]): void {
    if (this.closed || !this.socket.writable) return;
    this.socket.write(Buffer.concat(sentences.map(encodeSentence)));
  }

  /** `!fatal <reason>` (a bare word, as RouterOS sends it), then close. */
  private fatal(reason: string): void {
    if (this.closed) return;
    if (this.socket.writable) this.socket.end(encodeSentence(["!fatal", reason]));
    this.teardown();
  }
}

function countDown(sim: SimState, which: "drop"): { opts: DropOptions } | undefined;
function countDown(sim: SimState, which: "fatal"): { message: string } | undefined;
function countDown(
  sim: SimState,
  which: "drop" | "fatal",
): { opts: DropOptions } | { message: string } | undefined {
  const fault = sim[which];
  if (!fault) return undefined;
  fault.remaining--;
  if (fault.remaining > 0) return undefined;
  sim[which] = null;
  return fault;
}

const reply = (sentences: string[][]): Action => ({ kind: "reply", sentences });

/** Reply word, then `.tag` (as RouterOS orders them), then `=name=value` attributes. */
function sentence(type: string, tag: string | undefined, attrs: Record<string, string>): string[] {
  const words = [type];
  if (tag !== undefined) words.push(`.tag=${tag}`);
  for (const [k, v] of Object.entries(attrs)) words.push(`=${k}=${v}`);
  return words;
}

const done = (tag?: string): string[] => sentence("!done", tag, {});

function trapSentence(tag: string | undefined, t: Trap): string[] {
  const attrs: Record<string, string> = {};
  const category = t.category ?? categoryOf(t.message);
  if (category !== undefined) attrs.category = String(category);
  attrs.message = t.message;
  return sentence("!trap", tag, attrs);
}

export async function startRouterOsSim(opts: RosSimOptions = {}): Promise<RouterOsSim> {
  const version = parseVersion(opts.version ?? DEFAULT_VERSION);
  const clock = opts.clock ?? Date.now;
  const engine = new RosEngine({
    version,
    interfaces: opts.interfaces ?? DEFAULT_INTERFACES,
    identity: opts.identity ?? "MikroTik",
    boardName: opts.boardName ?? "CHR",
    architecture: "x86_64",
    now: clock,
  });
  // Seeds go in menu-table order so that referenced names (tables, lists, addresses) exist first.
  for (const [menu, items] of Object.entries(opts.seed ?? {}).sort(([a], [b]) => seedRank(a) - seedRank(b))) {
    if (!engine.hasMenu(menu)) throw new Error(`seed: no menu ${menu} in RouterOS ${version.text}`);
    for (const attrs of items) {
      try {
        engine.editAdd(menu, attrs);
      } catch (e) {
        throw new Error(`seed ${menu} ${JSON.stringify(attrs)}: ${(e as Error).message}`);
      }
    }
  }

  const legacyOnly = opts.legacyLogin ?? !atLeast(version, "6.43");
  const state: SimState = {
    engine,
    version,
    // Held as the router holds them: in its codepage, compared byte for byte with what a client sends.
    username: codepage(opts.username ?? "admin"),
    password: codepage(opts.password ?? ""),
    legacyOnly,
    // The challenge/response method was removed in 6.45.1 (jellonek/rosapi#13) unless legacy is forced.
    acceptsResponse: legacyOnly || !atLeast(version, "6.45.1"),
    latency: () => 0,
    drop: null,
    dropLogin: null,
    fatal: null,
    traps: [],
    stats: { commands: 0, writes: 0, reads: 0, connections: 0 },
    log: [],
    clock,
    maxWordLength: opts.maxWordLength,
  };

  const connections = new Set<Connection>();
  let nextConn = 1;
  const accept = (socket: net.Socket): void => {
    state.stats.connections++;
    connections.add(new Connection(nextConn++, socket, state, (c) => connections.delete(c)));
  };
  // Every TCP socket, including TLS handshakes not yet complete, so that close() never waits on a client.
  const sockets = new Set<net.Socket>();
  const host = opts.host ?? "127.0.0.1";
  const servers: net.Server[] = [];
  const listen = async (cert: RosSimOptions["tls"], port: number): Promise<number> => {
    const server = cert
      ? tls.createServer({ key: cert.key, cert: cert.cert }, accept)
      : net.createServer(accept);
    servers.push(server);
    server.on("tlsClientError", () => undefined);
    server.on("connection", (socket: net.Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return (server.address() as net.AddressInfo).port;
  };
  const port = await listen(opts.tls, opts.port ?? 0);
  const tlsPort = opts.apiSsl ? await listen(opts.apiSsl, 0) : undefined;

  const sim: RouterOsSim = {
    host,
    port,
    ...(tlsPort ? { tlsPort } : {}),
    version,
    log: state.log,
    async close() {
      for (const c of connections) c.destroy();
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
    },
    entries: (menu) => engine.entries(menu),
    live: (menu, rows) => engine.setLiveRows(menu, rows),
    stats: () => ({ ...state.stats }),
    resetStats() {
      state.stats = { commands: 0, writes: 0, reads: 0, connections: 0 };
    },
    faults: {
      latencyMs(ms) {
        state.latency = typeof ms === "function" ? ms : () => ms;
      },
      dropAfter(n, dropOpts = {}) {
        state.drop = n === null ? null : { remaining: n, opts: dropOpts };
      },
      dropLogin(dropOpts = {}) {
        state.dropLogin = dropOpts;
      },
      fatalAfter(n, message = DEFAULT_FATAL_MESSAGE) {
        state.fatal = n === null ? null : { remaining: n, message };
      },
      trapOn(match, message, category) {
        state.traps.push({ match, trap: category === undefined ? { message } : { message, category } });
      },
      clear() {
        state.latency = () => 0;
        state.drop = null;
        state.dropLogin = null;
        state.fatal = null;
        state.traps = [];
      },
    },
    edit: {
      add: (menu, attrs) => rethrow(() => engine.editAdd(menu, attrs)),
      set: (menu, id, attrs) => rethrow(() => engine.editSet(menu, id, attrs)),
      remove: (menu, id) => rethrow(() => engine.editRemove(menu, id)),
      netwatchStatus: (id, status) => rethrow(() => engine.setNetwatchStatus(id, status)),
    },
  };
  return sim;
}

/** Refusals from the engine surface as plain Errors whose message is the trap text. */
function rethrow<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RosTrapError) throw new Error(e.message);
    throw e;
  }
}

const SEED_ORDER = [
  "/interface/list",
  "/system/identity",
  "/routing/table",
  "/ip/address",
  "/ip/route",
  "/ip/route/rule",
  "/routing/rule",
  "/ip/firewall/address-list",
  "/ip/firewall/mangle",
  "/ip/firewall/nat",
  "/ip/firewall/filter",
  "/tool/netwatch",
];
const seedRank = (menu: string): number => {
  const i = SEED_ORDER.indexOf(menu);
  return i === -1 ? SEED_ORDER.length : i;
};
