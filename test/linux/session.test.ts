/**
 * Opening an SSH session to a Linux gateway that goes wrong before the session exists, against scripted
 * TCP servers on 127.0.0.1 (no root, no lab): every way a server can end or stall the handshake fails
 * open() within its timeout with a message that says what happened, instead of hanging while the apply
 * holds the device lock (regression: a connection closed during the handshake used to hang forever,
 * fixed in a45f9d0). The same against a real sshd killed mid-handshake: test/faults/linux.test.ts.
 */
import { generateKeyPairSync } from "node:crypto";
import * as net from "node:net";
import { LinuxSession, type LinuxTarget } from "../../provider/linux/session";

/** A host key to pin (the servers below never get far enough to show one). */
function someHostKey(): string {
  const raw = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" }).subarray(-32);
  const str = (b: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length);
    return Buffer.concat([length, b]);
  };
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]).toString("base64")}`;
}

type Behaviour = (socket: net.Socket) => void;

const BANNER = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

/** After the client's banner line and the first bytes of its KEXINIT. */
const afterClientKexinit = (then: (s: net.Socket) => void): Behaviour => {
  return (s) => {
    let got = "";
    s.write(BANNER);
    s.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      const eol = got.indexOf("\r\n");
      if (eol >= 0 && got.length > eol + 16) then(s);
    });
  };
};

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

async function serve(behaviour: Behaviour): Promise<number> {
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on("error", () => undefined);
    behaviour(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as net.AddressInfo).port;
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const TIMEOUT_MS = 1500;

const target = (port: number): LinuxTarget => ({
  host: "127.0.0.1",
  port,
  user: "root",
  password: "x",
  hostKey: someHostKey(),
  sudo: false,
  timeoutMs: TIMEOUT_MS,
});

/** open()'s outcome and how long it took; "HUNG" if it has not settled well after its own deadline. */
async function outcome(port: number): Promise<{ result: string; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    LinuxSession.open(target(port)).then(
      (s) => (s.close(), "open"),
      (e: Error) => e.message,
    ),
    new Promise<string>((r) => (timer = setTimeout(() => r("HUNG"), TIMEOUT_MS + 4000))),
  ]);
  clearTimeout(timer);
  return { result, ms: Date.now() - started };
}

describe("SSH connect: the server ends or stalls the handshake", () => {
  const closedDuring =
    /^cannot connect to root@127\.0\.0\.1:\d+: the server closed the connection during the SSH handshake$/;
  const cases: Array<[string, Behaviour, RegExp]> = [
    ["reset right after accepting", (s) => s.destroy(), /^cannot connect to root@127\.0\.0\.1:\d+: /],
    ["reset after its banner", (s) => (s.write(BANNER), setTimeout(() => s.destroy(), 20)), closedDuring],
    ["closed (FIN) after its banner", (s) => (s.write(BANNER), setTimeout(() => s.end(), 20)), closedDuring],
    ["reset during the key exchange", afterClientKexinit((s) => s.destroy()), closedDuring],
    ["closed (FIN) during the key exchange", afterClientKexinit((s) => s.end()), closedDuring],
  ];

  test.each(cases)("%s: fails at once, saying so", async (_what, behaviour, message) => {
    const { result, ms } = await outcome(await serve(behaviour));
    expect(result).toMatch(message);
    expect(ms).toBeLessThan(TIMEOUT_MS);
  });

  test("accepts and never says a word: fails at its timeout as unreachable or filtered", async () => {
    const port = await serve(() => undefined);
    const { result, ms } = await outcome(port);
    expect(result).toBe(
      `no answer from root@127.0.0.1:${port} within ${TIMEOUT_MS} ms (unreachable or filtered)`,
    );
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(TIMEOUT_MS + 1500);
  });

  test("sends its banner, then stalls the key exchange: fails by its timeout, never hangs", async () => {
    const port = await serve((s) => void s.write(BANNER));
    const { result, ms } = await outcome(port);
    expect(result).toBe(
      `no answer from root@127.0.0.1:${port} within ${TIMEOUT_MS} ms (unreachable or filtered)`,
    );
    expect(ms).toBeLessThan(TIMEOUT_MS + 1500);
  });

  test("nothing listening: 'refused the connection'", async () => {
    const port = await serve(() => undefined);
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    const { result } = await outcome(port);
    expect(result).toBe(`root@127.0.0.1:${port} refused the connection: is sshd listening on port ${port}?`);
  });
});
