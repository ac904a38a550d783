/**
 * A minimal RouterOS API client over a raw socket, for what node-routeros cannot do: read `!empty`
 * (node-routeros 1.6.9 throws UNKNOWNREPLY on it), see `!trap` categories and every reply sentence, send
 * arbitrary bytes (length forms, split chunks), `/cancel`, and observe `!fatal` and closes.
 *
 * Works against the simulator and against a real router.
 */
import { createHash } from "node:crypto";
import * as net from "node:net";
import * as tls from "node:tls";
import { ReplySentence, SentenceDecoder, encodeSentence, parseReply } from "./protocol";

export interface RawClientOptions {
  host: string;
  port: number;
  /** TLS (api-ssl): `true` for defaults without certificate checks, or explicit options. */
  tls?: boolean | tls.ConnectionOptions;
  /** How long command() and readSentence() wait (default 5000 ms). */
  timeoutMs?: number;
}

export interface CommandResult {
  /** Every reply sentence of the command, in order. */
  replies: ReplySentence[];
  /** Attributes of each `!re`. */
  re: Array<Record<string, string>>;
  traps: Array<{ message: string; category?: number }>;
  /** Attributes of `!done` (undefined when the command ended with `!fatal`). */
  done?: Record<string, string>;
  /** `!empty` was received (RouterOS 7.18+: print matched nothing). */
  empty: boolean;
  /** Reason of a `!fatal` that ended the connection while waiting. */
  fatal?: string;
}

interface Waiter {
  replies: ReplySentence[];
  resolve(r: CommandResult): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class RawRosClient {
  /** Every sentence received, in order. */
  readonly received: ReplySentence[] = [];
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  /** Socket errors, in order (e.g. ECONNRESET when the router resets the connection). */
  readonly errors: Array<Error & { code?: string }> = [];
  private readonly decoder = new SentenceDecoder();
  private readonly tagged = new Map<string, Waiter>();
  private readonly untagged: Waiter[] = [];
  private readonly unclaimed: ReplySentence[] = [];
  private readers: Array<{ resolve(s: ReplySentence): void; reject(e: Error): void; timer: NodeJS.Timeout }> =
    [];
  private isClosed = false;
  private fatalReason?: string;
  private nextTag = 1;

  private constructor(
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      for (const words of this.decoder.push(chunk)) this.dispatch(parseReply(words));
    });
    socket.on("error", (e) => this.errors.push(e));
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    void this.closed.then(() => this.onClose());
  }

  static connect(opts: RawClientOptions): Promise<RawRosClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const socket: net.Socket = opts.tls
        ? tls.connect({
            host: opts.host,
            port: opts.port,
            ...(opts.tls === true ? { rejectUnauthorized: false } : opts.tls),
          })
        : net.connect({ host: opts.host, port: opts.port });
      const ready = opts.tls ? "secureConnect" : "connect";
      socket.once("error", reject);
      socket.once(ready, () => {
        socket.off("error", reject);
        resolve(new RawRosClient(socket, timeoutMs));
      });
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Write one sentence (words are sent as latin1 bytes). */
  send(words: readonly string[]): void {
    this.socket.write(encodeSentence(words));
  }

  /** Write bytes as they are (hand-made length prefixes, partial sentences). */
  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** A fresh tag for command(). */
  tag(): string {
    return `t${this.nextTag++}`;
  }

  /**
   * Send a command and collect its replies up to `!done` (or a `!fatal`). With `tag`, replies are matched
   * by tag, so several commands may be in flight; without, untagged replies are taken in order.
   */
  command(words: readonly string[], opts: { tag?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    if (this.isClosed) return Promise.reject(new Error("connection is closed"));
    return new Promise<CommandResult>((resolve, reject) => {
      const waiter: Waiter = {
        replies: [],
        resolve,
        reject,
        timer: setTimeout(() => {
          this.forget(waiter, opts.tag);
          reject(new Error(`no !done for ${words[0]} within ${opts.timeoutMs ?? this.timeoutMs} ms`));
        }, opts.timeoutMs ?? this.timeoutMs),
      };
      if (opts.tag !== undefined) this.tagged.set(opts.tag, waiter);
      else this.untagged.push(waiter);
      this.send(opts.tag !== undefined ? [...words, `.tag=${opts.tag}`] : words);
    });
  }

  /** Next sentence that no command() is waiting for. */
  readSentence(timeoutMs = this.timeoutMs): Promise<ReplySentence> {
    const next = this.unclaimed.shift();
    if (next) return Promise.resolve(next);
    if (this.isClosed) return Promise.reject(new Error("connection is closed"));
    return new Promise((resolve, reject) => {
      const reader = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.readers = this.readers.filter((r) => r !== reader);
          reject(new Error(`no sentence within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.readers.push(reader);
    });
  }

  /** Log in: the 6.43+ method, falling back to challenge/response when the router answers with `=ret=`. */
  async login(user: string, password: string): Promise<void> {
    const first = await this.command(["/login", `=name=${user}`, `=password=${password}`]);
    if (first.traps.length > 0) throw new Error(first.traps[0].message);
    if (first.fatal !== undefined) throw new Error(first.fatal);
    const challenge = first.done?.ret;
    if (challenge !== undefined) await this.respond(user, password, challenge);
  }

  /** Log in with the pre-6.43 method only: `/login`, then `=response=`. */
  async loginLegacy(user: string, password: string): Promise<void> {
    const first = await this.command(["/login"]);
    const challenge = first.done?.ret;
    if (challenge === undefined) throw new Error(first.traps[0]?.message ?? "no challenge in /login reply");
    await this.respond(user, password, challenge);
  }

  /** Half-close and wait for the router to close too (destroying after `timeoutMs`). */
  async close(): Promise<void> {
    if (!this.isClosed) {
      this.socket.end();
      const timer = setTimeout(() => this.socket.destroy(), this.timeoutMs);
      await this.closed;
      clearTimeout(timer);
    }
  }

  /** Close at once (no FIN handshake). */
  destroy(): void {
    this.socket.destroy();
  }

  private async respond(user: string, password: string, challenge: string): Promise<void> {
    const md5 = createHash("md5")
      .update(
        Buffer.concat([Buffer.from([0]), Buffer.from(password, "latin1"), Buffer.from(challenge, "hex")]),
      )
      .digest("hex");
    const second = await this.command(["/login", `=name=${user}`, `=response=00${md5}`]);
    if (second.traps.length > 0) throw new Error(second.traps[0].message);
    if (second.fatal !== undefined) throw new Error(second.fatal);
  }

  private dispatch(s: ReplySentence): void {
    this.received.push(s);
    if (s.type === "!fatal") {
      this.fatalReason = s.words[0] ?? "";
      this.settleAll();
      this.deliver(s);
      return;
    }
    const waiter = s.tag !== undefined ? this.tagged.get(s.tag) : this.untagged[0];
    if (!waiter) return this.deliver(s);
    waiter.replies.push(s);
    if (s.type !== "!done") return;
    this.forget(waiter, s.tag);
    clearTimeout(waiter.timer);
    waiter.resolve(summarise(waiter.replies));
  }

  private deliver(s: ReplySentence): void {
    const reader = this.readers.shift();
    if (!reader) {
      this.unclaimed.push(s);
      return;
    }
    clearTimeout(reader.timer);
    reader.resolve(s);
  }

  private forget(waiter: Waiter, tag?: string): void {
    if (tag !== undefined && this.tagged.get(tag) === waiter) this.tagged.delete(tag);
    const i = this.untagged.indexOf(waiter);
    if (i !== -1) this.untagged.splice(i, 1);
  }

  /** End every waiting command: with the `!fatal` reason if there was one, else as an error. */
  private settleAll(): void {
    const waiters = [...this.tagged.values(), ...this.untagged];
    this.tagged.clear();
    this.untagged.length = 0;
    for (const w of waiters) {
      clearTimeout(w.timer);
      if (this.fatalReason !== undefined) w.resolve({ ...summarise(w.replies), fatal: this.fatalReason });
      else w.reject(new Error("connection closed before !done"));
    }
  }

  private onClose(): void {
    this.isClosed = true;
    this.settleAll();
    for (const r of this.readers) {
      clearTimeout(r.timer);
      r.reject(new Error("connection closed"));
    }
    this.readers = [];
  }
}

function summarise(replies: ReplySentence[]): CommandResult {
  const result: CommandResult = { replies, re: [], traps: [], empty: false };
  for (const r of replies) {
    if (r.type === "!re") result.re.push(r.attrs);
    else if (r.type === "!empty") result.empty = true;
    else if (r.type === "!done") result.done = r.attrs;
    else if (r.type === "!trap") {
      const { message = "", category } = r.attrs;
      result.traps.push(category === undefined ? { message } : { message, category: Number(category) });
    }
  }
  return result;
}
