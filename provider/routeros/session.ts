/**
 * A RouterOS API session over node-routeros, with its known defects neutralised (../shared notes):
 * - node-routeros' Channel throws an uncaught UNKNOWNREPLY on `!empty` (RouterOS 7.18+) and drops the
 *   `category` of `!trap`: we keep its Connector (socket, word encoding, login) and dispatch replies by tag
 *   ourselves, understanding `!re`, `!trap` (message and category), `!empty` and `!done`.
 * - `!fatal` or a closed socket leave its promises pending forever: every pending command is rejected when
 *   the connection ends, and every command has its own timeout.
 * - With no 'error' listener an idle timeout crashes the process: we listen, and use keepalive. Its Connector
 *   drops its own listeners when destroyed, so a later socket error would crash it too: one stays.
 * - Its errors lose the socket's reason (a TLS verification failure or a reset reads ""): we keep the
 *   socket's own error. A connection closed during the login leaves connect() pending: we end it.
 * - TLS keeps port 8728 unless told: the port follows `tls`.
 * Commands are tagged, so many can be in flight on one connection (reads and independent writes are
 * pipelined by the caller).
 */
import type { Socket } from "node:net";
import type { ConnectionOptions, TlsOptions } from "node:tls";
import type { RouterOSAPI } from "node-routeros";
import { getSystemErrorName } from "node:util";

export interface RosTarget {
  host: string;
  port?: number;
  username: string;
  password: string;
  tls?: false | { ca?: string; insecure?: boolean; servername?: string };
  timeoutMs: number;
  /** Socket idleness (s) after which node-routeros gives up; keepalive pings at half of it. */
  idleTimeoutSec?: number;
}

export type RosItem = Record<string, string>;

/** A `!trap` from the router: the command was refused. */
export class RosTrapError extends Error {
  constructor(
    readonly command: string,
    readonly trap: string,
    readonly category: number | undefined,
  ) {
    super(`RouterOS refused ${command}: ${trap}${category === undefined ? "" : ` (category ${category})`}`);
    this.name = "RosTrapError";
  }
}

/** The connection failed or ended; nothing more can be sent on this session. */
export class RosConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RosConnectionError";
  }
}

const DEFAULT_PORT = 8728;
const DEFAULT_TLS_PORT = 8729;
const WRITE_VERBS = new Set(["add", "set", "remove", "move", "unset", "enable", "disable"]);

interface Pending {
  command: string;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

// The parts of node-routeros' Connector we use (not in its public typings).
interface Connector {
  read(tag: string, cb: (packet: string[]) => void): void;
  stopRead(tag: string): void;
  write(words: string[]): void;
  receiver: { processRawData(data: Buffer): void };
  socket: Socket;
  destroy(): void;
  on(event: "error", listener: (e: Error) => void): void;
  once(event: "connected", listener: () => void): void;
  listeners(event: "error"): unknown[];
}

/** The API port: explicit, or 8729 with TLS (node-routeros would keep 8728), else 8728. */
export function defaultPort(target: Pick<RosTarget, "port" | "tls">): number {
  return target.port ?? (target.tls ? DEFAULT_TLS_PORT : DEFAULT_PORT);
}

export class RosSession {
  readonly stats = { commands: 0, writes: 0 };
  private seq = 0;
  private readonly pending = new Map<string, Pending>();
  private failure: Error | undefined;

  private constructor(
    private readonly api: RouterOSAPI,
    private readonly connector: Connector,
    readonly target: RosTarget,
  ) {}

  static async open(target: RosTarget): Promise<RosSession> {
    const { RouterOSAPI } = await import("node-routeros");
    const tls: ConnectionOptions | undefined = target.tls
      ? {
          ca: target.tls.ca,
          rejectUnauthorized: target.tls.insecure !== true,
          servername: target.tls.servername,
          // Routers without a certificate only offer anonymous DH suites.
          ...(target.tls.insecure
            ? { ciphers: "ADH-AES128-SHA256:ADH-AES256-SHA256:DEFAULT:@SECLEVEL=0" }
            : {}),
        }
      : undefined;
    const port = defaultPort(target);
    const where = `${target.host}:${port}`;
    const api = new RouterOSAPI({
      host: target.host,
      port,
      user: target.username,
      password: target.password,
      // node-routeros hands these to tls.connect(), which takes ConnectionOptions (its typing says TlsOptions).
      tls: tls as TlsOptions | undefined,
      keepalive: true,
      // node-routeros' timeout is socket idleness in seconds, not a command timeout.
      timeout: target.idleTimeoutSec ?? Math.max(10, Math.ceil(target.timeoutMs / 1000) * 3),
    });
    const live: { session?: RosSession; connectFailed?: (e: Error) => void } = {};
    const ended = (error: RosConnectionError) =>
      live.session ? live.session.fail(error) : live.connectFailed?.(error);
    const connecting = api.connect();
    // connect() made the Connector and its socket synchronously.
    const connector = (api as unknown as { connector: Connector }).connector;
    const socket = watchSocket(connector);
    // A reply node-routeros cannot place (a tag we gave up on, or a service on that port that is not the
    // API) throws inside its socket handler: that would crash the process, during the login as after it.
    const receiver = connector.receiver;
    const original = receiver.processRawData.bind(receiver);
    receiver.processRawData = (data: Buffer) => {
      try {
        original(data);
      } catch (e) {
        ended(
          new RosConnectionError(
            live.session
              ? `unreadable reply from ${where}: ${(e as Error).message}`
              : `unreadable reply from ${where} during login (${(e as Error).message}): is it a RouterOS API service?`,
          ),
        );
      }
    };
    api.on("error", (e: Error) =>
      ended(new RosConnectionError(`connection to ${where} failed: ${socket.describe(e)}`)),
    );
    // node-routeros never settles connect() when the router closes the connection during the login (it
    // emits 'close' only for a connection that was established).
    api.on("close", () =>
      ended(
        new RosConnectionError(
          `connection to ${where} was closed by the router${live.session ? "" : " during login"}`,
        ),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connecting,
        new Promise((_, reject) => {
          live.connectFailed = reject;
          timer = setTimeout(
            () =>
              reject(
                new RosConnectionError(
                  socket.received
                    ? `${where} answered, but not with a RouterOS API login reply within ${target.timeoutMs} ms: is it a RouterOS API service?`
                    : `no answer from ${where} within ${target.timeoutMs} ms`,
                ),
              ),
            target.timeoutMs,
          );
        }),
      ]);
    } catch (e) {
      safeClose(api);
      throw connectError(e, where, socket);
    } finally {
      clearTimeout(timer);
    }
    // node-routeros writes each word separately with Nagle on: ~45 ms per round trip instead of ~1 ms.
    connector.socket.setNoDelay(true);
    const session = new RosSession(api, connector, target);
    live.session = session;
    return session;
  }

  /** Runs one command; resolves to its `!re` items (or `[{ret}]` for add). */
  command(words: string[]): Promise<RosItem[]> {
    const command = words[0];
    if (this.failure) return Promise.reject(this.failure);
    this.stats.commands++;
    if (WRITE_VERBS.has(command.slice(command.lastIndexOf("/") + 1))) this.stats.writes++;
    const tag = `lbgw${++this.seq}`;
    return new Promise<RosItem[]>((resolve, reject) => {
      const items: RosItem[] = [];
      let trap: RosItem | undefined;
      const timer = setTimeout(
        () =>
          this.fail(
            new RosConnectionError(
              `${command} got no answer within ${this.target.timeoutMs} ms; connection dropped`,
            ),
          ),
        this.target.timeoutMs,
      );
      this.pending.set(tag, { command, reject, timer });
      this.connector.read(tag, (packet) => {
        const [reply, ...rest] = packet;
        const attrs = parseAttributes(rest);
        if (reply === "!re") items.push(attrs);
        else if (reply === "!trap") trap = attrs;
        else if (reply === "!done") {
          this.settle(tag);
          if (trap)
            reject(new RosTrapError(command, trap.message ?? "unknown error", optionalInt(trap.category)));
          else resolve(attrs.ret !== undefined ? [attrs] : items);
        } else if (reply === "!fatal") {
          this.fail(new RosConnectionError(`router ended the session: ${attrs.message ?? rest.join(" ")}`));
        }
        // "!empty" (7.18+): the print matched nothing; "!done" follows.
      });
      this.connector.write([...words, `.tag=${tag}`]);
    });
  }

  async close(): Promise<void> {
    this.fail(new RosConnectionError("session closed"));
    safeClose(this.api);
  }

  private settle(tag: string): void {
    const p = this.pending.get(tag);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(tag);
    this.connector.stopRead(tag);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const [tag, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(tag);
      p.reject(error);
    }
    safeClose(this.api);
  }
}

function parseAttributes(words: string[]): RosItem {
  const out: RosItem = {};
  for (const w of words) {
    if (!w.startsWith("=")) continue;
    const eq = w.indexOf("=", 1);
    if (eq > 0) out[w.slice(1, eq)] = w.slice(eq + 1);
  }
  return out;
}

function optionalInt(v: string | undefined): number | undefined {
  return v === undefined || !/^\d+$/.test(v) ? undefined : Number(v);
}

/** Ends the connection and node-routeros' own keepalive timers (it leaves them armed when the router closed first). */
function safeClose(api: RouterOSAPI): void {
  const internals = api as unknown as {
    closing?: boolean;
    keptaliveby?: NodeJS.Timeout;
    connectionHoldInterval?: NodeJS.Timeout;
    connector?: { destroy(): void };
  };
  internals.closing = true;
  clearTimeout(internals.keptaliveby);
  clearTimeout(internals.connectionHoldInterval);
  try {
    internals.connector?.destroy();
  } catch {
    // already gone
  }
}

/** What the socket itself said, which node-routeros' RosException drops (TLS errors have no errno at all). */
interface SocketWatch {
  /** TCP (and TLS) is up: the login is under way, or done. */
  readonly connected: boolean;
  /** The socket's first error ("ECONNRESET: read ECONNRESET"), else what node-routeros reported. */
  describe(reported: unknown): string;
  readonly code: string | undefined;
  /** Bytes the peer sent (a service that answers, but not as the API, is told apart from silence). */
  readonly received: number;
}

function watchSocket(connector: Connector): SocketWatch {
  let first: (Error & { code?: string }) | undefined;
  let connected = false;
  let received = 0;
  // Ours runs before node-routeros' own listener, which destroys the Connector.
  connector.socket.prependListener("error", (e: Error) => (first ??= e));
  connector.socket.prependListener("data", (d: Buffer) => (received += d.length));
  connector.once("connected", () => (connected = true));
  // node-routeros' Connector re-emits every socket 'error' and drops all its listeners when destroyed: a
  // second socket error (e.g. a late TLS alert or reset after the first error or after close) would then be
  // an 'error' event nobody listens to, and crash the process. Keep a listener for the Connector's life.
  const ignore = () => undefined;
  const destroy = connector.destroy.bind(connector);
  connector.destroy = () => {
    destroy();
    if (!connector.listeners("error").includes(ignore)) connector.on("error", ignore);
  };
  connector.on("error", ignore);
  return {
    get connected() {
      return connected;
    },
    get code() {
      return first?.code;
    },
    get received() {
      return received;
    },
    describe(reported) {
      if (first) return first.code ? `${first.code}: ${first.message}` : first.message;
      return errorText(reported);
    },
  };
}

/** node-routeros' errors: a RosException with a symbolic or numeric errno (e.g. -111), or a plain Error. */
function errorText(e: unknown): string {
  const err = e as { errno?: string | number; message?: string };
  const errno =
    typeof err.errno === "number" || /^-\d+$/.test(String(err.errno))
      ? getSystemErrorName(Number(err.errno))
      : err.errno;
  return [errno, err.message || (err.message === undefined ? String(e) : "")].filter(Boolean).join(": ");
}

/** TLS verification failures (OpenSSL's X509 codes as Node reports them) and what to check for each. */
function tlsHint(code: string): string | undefined {
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
    return "the router's certificate is for another name: set tls.servername to the name it carries";
  if (/CERT|SIGNATURE|ISSUER/.test(code))
    return "the router's certificate could not be verified: is tls.ca the CA that signed it?";
  return undefined;
}

function connectError(e: unknown, where: string, socket: SocketWatch): Error {
  if (e instanceof RosConnectionError) return e;
  const text = `${errorText(e)} ${socket.describe(e)}`;
  if (/CANTLOGIN|invalid user name or password|cannot log in/i.test(text))
    return new RosConnectionError(`${where} refused the login: invalid user name or password`);
  if (/ECONNREFUSED/.test(text))
    return new RosConnectionError(
      `${where} refused the connection: is the API service enabled on that port?`,
    );
  if (socket.connected && /ECONNRESET|EPIPE/.test(text))
    return new RosConnectionError(`connection to ${where} was reset during login (${socket.describe(e)})`);
  if (/SOCKTMOUT|ETIMEDOUT/.test(text)) return new RosConnectionError(`no answer from ${where}`);
  const hint = socket.code && tlsHint(socket.code);
  return new RosConnectionError(
    `cannot connect to ${where}: ${hint ? `TLS: ${socket.describe(e)}: ${hint}` : socket.describe(e)}`,
  );
}
