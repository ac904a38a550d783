/**
 * A RouterOS API session over node-routeros, with its known defects neutralised (../shared notes):
 * - node-routeros' Channel throws an uncaught UNKNOWNREPLY on `!empty` (RouterOS 7.18+) and drops the
 *   `category` of `!trap`: we keep its Connector (socket, word encoding, login) and dispatch replies by tag
 *   ourselves, understanding `!re`, `!trap` (message and category), `!empty` and `!done`.
 * - `!fatal` or a closed socket leave its promises pending forever: every pending command is rejected when
 *   the connection ends, and every command has its own timeout.
 * - With no 'error' listener an idle timeout crashes the process: we listen, and use keepalive.
 * - TLS keeps port 8728 unless told: the port follows `tls`.
 * Commands are tagged, so many can be in flight on one connection (reads and independent writes are
 * pipelined by the caller).
 */
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
  socket: { setNoDelay(on: boolean): void };
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
    // Connection events before the session exists are reported by connect() itself.
    const live: { session?: RosSession } = {};
    api.on("error", (e: Error) =>
      live.session?.fail(new RosConnectionError(`connection to ${where()} failed: ${e.message}`)),
    );
    api.on("close", () =>
      live.session?.fail(new RosConnectionError(`connection to ${where()} was closed by the router`)),
    );
    const where = () => `${target.host}:${port}`;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        api.connect(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new RosConnectionError(`no answer from ${where()} within ${target.timeoutMs} ms`)),
            target.timeoutMs,
          );
        }),
      ]);
    } catch (e) {
      safeClose(api);
      throw connectError(e, where());
    } finally {
      clearTimeout(timer);
    }
    const connector = (api as unknown as { connector: Connector }).connector;
    // node-routeros writes each word separately with Nagle on: ~45 ms per round trip instead of ~1 ms.
    connector.socket.setNoDelay(true);
    const session = new RosSession(api, connector, target);
    live.session = session;
    // A reply node-routeros cannot place (e.g. for a tag we gave up on) must not crash the process.
    const receiver = connector.receiver;
    const original = receiver.processRawData.bind(receiver);
    receiver.processRawData = (data: Buffer) => {
      try {
        original(data);
      } catch (e) {
        live.session?.fail(
          new RosConnectionError(`unreadable reply from ${where()}: ${(e as Error).message}`),
        );
      }
    };
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

function connectError(e: unknown, where: string): Error {
  if (e instanceof RosConnectionError) return e;
  const err = e as { errno?: string | number; message?: string };
  // node-routeros reports socket errors by their numeric errno (e.g. -111): name them.
  const errno =
    typeof err.errno === "number" || /^-\d+$/.test(String(err.errno))
      ? getSystemErrorName(Number(err.errno))
      : err.errno;
  const text = `${errno ?? ""} ${err.message ?? String(e)}`;
  if (/CANTLOGIN|invalid user name or password|cannot log in/i.test(text))
    return new RosConnectionError(`${where} refused the login: invalid user name or password`);
  if (/ECONNREFUSED/.test(text))
    return new RosConnectionError(
      `${where} refused the connection: is the API service enabled on that port?`,
    );
  if (/SOCKTMOUT|ETIMEDOUT/.test(text)) return new RosConnectionError(`no answer from ${where}`);
  return new RosConnectionError(`cannot connect to ${where}: ${text.trim()}`);
}
