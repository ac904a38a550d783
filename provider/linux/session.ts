/**
 * One SSH connection to a Linux gateway (ssh2), for one provider operation.
 *
 * - The host key is pinned: `hostVerifier` compares the offered key blob with the configured public key
 *   line, or its SHA256 fingerprint with a configured "SHA256:..." value; a mismatch refuses to connect.
 * - Commands are argument vectors. ssh2's exec takes one string, which the remote user's shell splits: it
 *   is built by quoting every element with `shellQuote`. Callers pass only constant argv (tool names,
 *   fixed scripts); everything derived from the spec travels on stdin.
 * - Every command has a timeout; a command that times out or a dropped connection fails the session.
 */
import { createHash } from "node:crypto";
import type { Client, ClientChannel, ConnectConfig } from "ssh2";

export interface LinuxTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  privateKey?: string;
  privateKeyPassword?: string;
  agentSocketPath?: string;
  /** "ssh-ed25519 AAAA... [comment]" or "SHA256:<base64>". */
  hostKey: string;
  sudo: boolean;
  timeoutMs: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Test seam: called before each command is sent (e.g. to drop the connection mid-apply). */
export interface SessionHooks {
  beforeCommand?(session: LinuxSession, index: number, argv: readonly string[]): void;
}

export class SshError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SshError";
  }
}

/** A command ran and exited non-zero. */
export class RemoteCommandError extends Error {
  constructor(
    readonly what: string,
    readonly result: RunResult,
  ) {
    super(
      `${what} failed on the gateway (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`,
    );
    this.name = "RemoteCommandError";
  }
}

/**
 * POSIX shell quoting of one word: bare when it is made only of characters no shell treats specially,
 * otherwise single-quoted with each ' written as '\''. NUL cannot be passed in an argument at all.
 */
export function shellQuote(word: string): string {
  if (word.includes("\0")) throw new Error("an argument cannot contain a NUL character");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error("empty command");
  return argv.map(shellQuote).join(" ");
}

/** "SHA256:<base64 without padding>", as OpenSSH prints fingerprints. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The verifier for a configured host key; returns the problem, or undefined when the key matches. */
export function hostKeyCheck(expected: string, host: string): (blob: Buffer) => string | undefined {
  const want = expected.trim();
  if (/^SHA256:/.test(want)) {
    const fp = want.replace(/=+$/, "");
    return (blob) => {
      const got = fingerprint(blob);
      return got === fp ? undefined : `host key mismatch for ${host}: expected ${fp}, got ${got}`;
    };
  }
  const [type, b64] = want.split(/\s+/);
  const wantBlob = b64 ? Buffer.from(b64, "base64") : Buffer.alloc(0);
  if (!type || !b64 || wantBlob.length === 0 || keyType(wantBlob) !== type)
    throw new SshError(
      `target.linux.hostKey is neither an OpenSSH public key line ("ssh-ed25519 AAAA...") nor a "SHA256:..." fingerprint`,
    );
  return (blob) =>
    blob.equals(wantBlob)
      ? undefined
      : `host key mismatch for ${host}: expected ${fingerprint(wantBlob)}, got ${fingerprint(blob)} (${keyType(blob) ?? "unknown type"})`;
}

/** The algorithm name at the start of an SSH key blob (uint32 length + string). */
function keyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const n = blob.readUInt32BE(0);
  return n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString("latin1") : undefined;
}

export class LinuxSession {
  readonly stats = { commands: 0, writes: 0 };
  private failure: Error | undefined;

  private constructor(
    private readonly client: Client,
    readonly target: LinuxTarget,
    private readonly hooks: SessionHooks,
  ) {}

  get where(): string {
    return `${this.target.user}@${this.target.host}:${this.target.port}`;
  }

  static async open(target: LinuxTarget, hooks: SessionHooks = {}): Promise<LinuxSession> {
    const { Client } = await import("ssh2");
    const check = hostKeyCheck(target.hostKey, target.host);
    const where = `${target.user}@${target.host}:${target.port}`;
    let hostProblem: string | undefined;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      password: target.password,
      privateKey: target.privateKey,
      passphrase: target.privateKeyPassword,
      agent: target.agentSocketPath,
      readyTimeout: target.timeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      hostVerifier: (blob: Buffer) => {
        hostProblem = check(blob);
        return hostProblem === undefined;
      },
    };
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      // ssh2 may end a connection dropped during the handshake with "close" and no "error", and its
      // readyTimeout does not cover every phase: both ends are guarded here, or the apply would hang
      // holding the device lock.
      const backstop = setTimeout(
        () => fail(new Error(`no SSH session within ${target.timeoutMs} ms`)),
        target.timeoutMs + 1000,
      );
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(backstop);
        client.removeAllListeners("ready");
        client.end();
        reject(connectError(e, where, target, hostProblem));
      };
      const closedEarly = () => fail(new Error("the server closed the connection during the SSH handshake"));
      client.once("ready", () => {
        if (settled) return;
        settled = true;
        clearTimeout(backstop);
        client.removeListener("error", fail);
        client.removeListener("close", closedEarly);
        resolve();
      });
      // `on`, not `once`: ssh2 can report a failure twice (a handshake timeout, then "Connection lost
      // before handshake" when the socket closes), and an "error" without a listener would crash the process.
      client.on("error", fail);
      client.once("close", closedEarly);
      try {
        client.connect(config);
      } catch (e) {
        fail(e as Error);
      }
    });
    const session = new LinuxSession(client, target, hooks);
    client.on("error", (e: Error) =>
      session.fail(new SshError(`connection to ${where} failed: ${e.message}`)),
    );
    client.on("close", () => session.fail(new SshError(`connection to ${where} was closed`)));
    return session;
  }

  /**
   * Runs argv on the gateway (through `sudo -n --` when target.sudo), stdin from `input`. Resolves with the
   * exit code and output; rejects only when the connection fails or the command times out.
   */
  async run(argv: readonly string[], opts: { input?: string; write?: boolean } = {}): Promise<RunResult> {
    if (this.failure) throw this.failure;
    const index = this.stats.commands++;
    if (opts.write) this.stats.writes++;
    this.hooks.beforeCommand?.(this, index, argv);
    if (this.failure) throw this.failure;
    const full = this.target.sudo ? ["sudo", "-n", "--", ...argv] : [...argv];
    const line = commandLine(full);
    const name = argv[0] === "sh" ? "a script" : argv.slice(0, 2).join(" ");
    return new Promise<RunResult>((resolve, reject) => {
      let channel: ClientChannel | undefined;
      const timer = setTimeout(() => {
        channel?.close();
        const e = new SshError(`${name} got no answer from ${this.where} within ${this.target.timeoutMs} ms`);
        this.fail(e);
        reject(e);
      }, this.target.timeoutMs);
      const stop = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      this.onFail = stop;
      this.client.exec(line, (err, stream) => {
        if (err) return stop(new SshError(`cannot run a command on ${this.where}: ${err.message}`));
        channel = stream;
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code: number | undefined;
        stream.on("data", (d: Buffer) => out.push(d));
        stream.stderr.on("data", (d: Buffer) => errOut.push(d));
        stream.on("exit", (c: number | null, signal?: string) => {
          code = c ?? (signal ? 128 : 255);
        });
        stream.on("close", () => {
          clearTimeout(timer);
          this.onFail = undefined;
          if (code === undefined) {
            const e = this.failure ?? new SshError(`${name} on ${this.where} ended without an exit status`);
            return reject(e);
          }
          const result = {
            code,
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(errOut).toString("utf8"),
          };
          if (
            this.target.sudo &&
            code === 1 &&
            /sudo: a password is required|sudo: .*not allowed/.test(result.stderr)
          )
            return reject(
              new SshError(
                `${this.target.user} on ${this.target.host} cannot use sudo without a password (sudo -n): ${result.stderr.trim()}`,
              ),
            );
          resolve(result);
        });
        stream.on("error", (e: Error) => stop(new SshError(`${name} on ${this.where}: ${e.message}`)));
        stream.end(opts.input ?? "");
      });
    });
  }

  /** Runs argv and rejects with RemoteCommandError on a non-zero exit. */
  async check(
    what: string,
    argv: readonly string[],
    opts: { input?: string; write?: boolean } = {},
  ): Promise<string> {
    const r = await this.run(argv, opts);
    if (r.code !== 0) throw new RemoteCommandError(what, r);
    return r.stdout;
  }

  /** Simulates a network drop (tests): the socket goes away without a goodbye. */
  dropConnection(): void {
    const sock = (this.client as unknown as { _sock?: { destroy(): void } })._sock;
    sock?.destroy();
    this.fail(new SshError(`connection to ${this.where} dropped`));
  }

  close(): void {
    this.fail(new SshError("session closed"));
  }

  private onFail: ((e: Error) => void) | undefined;

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.onFail?.(error);
    this.onFail = undefined;
    try {
      this.client.end();
    } catch {
      // already gone
    }
  }
}

function connectError(e: Error, where: string, target: LinuxTarget, hostProblem: string | undefined): Error {
  if (hostProblem) return new SshError(`${hostProblem}; refusing to connect`);
  const err = e as Error & { level?: string; code?: string };
  const text = `${err.code ?? ""} ${err.message}`;
  if (err.level === "client-authentication" || /authentication methods failed/i.test(text)) {
    const tried = [
      target.password !== undefined ? "password" : "",
      target.privateKey ? "privateKey" : "",
      target.agentSocketPath ? "agent" : "",
    ].filter(Boolean);
    return new SshError(
      `SSH login to ${where} failed: the server refused the credentials (${tried.join(", ")}); check user, password or key`,
    );
  }
  if (/Cannot parse privateKey|passphrase|Encrypted private/i.test(text))
    return new SshError(
      `target.linux.privateKey cannot be read: ${err.message} (wrong or missing privateKeyPassword?)`,
    );
  if (/ECONNREFUSED/.test(text))
    return new SshError(`${where} refused the connection: is sshd listening on port ${target.port}?`);
  if (/ETIMEDOUT|Timed out while waiting for handshake/i.test(text))
    return new SshError(`no answer from ${where} within ${target.timeoutMs} ms (unreachable or filtered)`);
  if (/EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN/.test(text))
    return new SshError(`cannot reach ${where}: ${err.message}`);
  return new SshError(`cannot connect to ${where}: ${err.message}`);
}
