/**
 * A RouterOS that cannot be used: unreachable (port closed, a listener that never answers, the connection
 * reset or closed during the login, a TLS certificate that does not verify), login refused, or running
 * another major version than the resource is rendered for. Every provider operation
 * that needs the device fails with an error naming the cause; none of them reports an empty or partial
 * state in its place (update throws, so Pulumi keeps the previous outputs; read throws, so refresh does
 * not record every rule as gone; remove throws, so the resource stays in the state), and the device keeps
 * the configuration it had: nothing is written.
 */
import * as net from "node:net";
import * as provider from "../../provider/index";
import { seedNthSticky } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { startRouterOsSim } from "../../labs/routeros-sim";
import { selfSignedCert } from "../../labs/routeros-sim/self-signed";
import {
  checked,
  foreignEntries,
  menusOf,
  owned,
  seedRouter,
  targetOf,
  writesSince,
} from "../routeros/support";

jest.setTimeout(60_000);

type Props = Record<string, unknown>;

/** A port on which nothing listens (ECONNREFUSED). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A listener that accepts and never says a word (a filtered or hung API service). */
async function silentListener(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((c) => {
    sockets.add(c);
    c.on("error", () => undefined);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    port: (s.address() as net.AddressInfo).port,
    close: async () => {
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

describe("RouterOS unreachable, login refused, version mismatch", () => {
  let sim: RouterOsSim;
  let id: string;
  let olds: Props;
  let ownedBefore: string;
  let foreignBefore: string;
  let silence: jest.SpyInstance;

  const snapshot = () => JSON.stringify(menusOf(sim).map((m) => owned(sim, m)));
  const foreign = () => JSON.stringify(menusOf(sim).map((m) => foreignEntries(sim, m)));

  beforeEach(async () => {
    silence = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    sim = await seedRouter("7.16.2");
    const inputs = await checked(seedNthSticky({ target: targetOf(sim) }));
    const created = await provider.create(inputs);
    id = created.id as string;
    olds = created.outs as Props;
    ownedBefore = snapshot();
    foreignBefore = foreign();
  });
  afterEach(async () => {
    silence.mockRestore();
    await sim.close();
  });

  /**
   * The first `pulumi up` (create), the next one (a weight change), refresh and destroy, against a changed
   * target (or the router's fault, cleared afterwards).
   */
  async function everyOperationFails(
    target: (good: ReturnType<typeof targetOf>) => ReturnType<typeof targetOf>,
    message: RegExp,
  ): Promise<void> {
    const spec = seedNthSticky({ target: target(targetOf(sim)) });
    spec.links = [{ ...spec.links[0], weight: 2 }, spec.links[1]];
    const news = await checked(spec);
    const stored = structuredClone(olds);
    const from = sim.log.length;
    const started = Date.now();
    await expect(provider.create(news)).rejects.toThrow(message);
    await expect(provider.update(id, olds, news)).rejects.toThrow(message);
    await expect(provider.read(id, { ...olds, ...news })).rejects.toThrow(message);
    await expect(provider.remove(id, { ...olds, ...news })).rejects.toThrow(message);
    // bounded by the spec's 1 s timeout (per command and for the connection), not hanging
    expect(Date.now() - started).toBeLessThan(10_000);
    // the state Pulumi holds is untouched (each call threw: the engine keeps its previous outputs)
    expect(olds).toEqual(stored);
    expect(writesSince(sim, from)).toEqual([]);
    expect(snapshot()).toBe(ownedBefore);
    expect(foreign()).toBe(foreignBefore);
    // the device still answers with the previous configuration, unchanged
    sim.faults.clear();
    const read = await provider.read(id, olds);
    expect(read.props?.rules).toEqual(olds.rules);
  }

  test("port closed: 'refused the connection', nothing changes", async () => {
    const port = await closedPort();
    await everyOperationFails(
      (t) => ({ routeros: { ...t.routeros!, port, timeout: "1s" } }),
      /^127\.0\.0\.1:\d+ refused the connection: is the API service enabled on that port\?$/,
    );
  });

  test("a listener that never answers: 'no answer ... within 1000 ms', nothing changes", async () => {
    const silent = await silentListener();
    try {
      await everyOperationFails(
        (t) => ({ routeros: { ...t.routeros!, port: silent.port, timeout: "1s" } }),
        /^no answer from 127\.0\.0\.1:\d+ within 1000 ms$/,
      );
    } finally {
      await silent.close();
    }
  });

  test("wrong password: 'refused the login', nothing changes", async () => {
    await everyOperationFails(
      (t) => ({ routeros: { ...t.routeros!, password: "not-the-password", timeout: "1s" } }),
      /^127\.0\.0\.1:\d+ refused the login: invalid user name or password$/,
    );
  });

  test("unknown user: 'refused the login', nothing changes", async () => {
    await everyOperationFails(
      (t) => ({ routeros: { ...t.routeros!, username: "nobody", timeout: "1s" } }),
      /^127\.0\.0\.1:\d+ refused the login: invalid user name or password$/,
    );
  });

  test.each([
    ["reset (RST)", { reset: true }, /^connection to 127\.0\.0\.1:\d+ was reset during login \(ECONNRESET/],
    ["closed (FIN)", {}, /^connection to 127\.0\.0\.1:\d+ was closed by the router during login$/],
  ])(
    "the router's API service %s during the login: said so, nothing changes",
    async (_how, opts, message) => {
      sim.faults.dropLogin(opts);
      await everyOperationFails((t) => ({ routeros: { ...t.routeros!, timeout: "1s" } }), message);
    },
  );

  test("version mismatch (rendered for 6, the router runs 7.16.2): named, nothing written", async () => {
    await everyOperationFails(
      (t) => ({ routeros: { ...t.routeros!, version: 6, timeout: "1s" } }),
      /^RouterOS version mismatch: the resource is rendered for RouterOS 6 \(target\.routeros\.version\) but 127\.0\.0\.1 runs 7\.16\.2/,
    );
  });
});

test("version mismatch the other way (rendered for 7, the router runs 6.49.10): named before any write", async () => {
  const sim = await seedRouter("6.49.10");
  try {
    const news = await checked(
      seedNthSticky({ target: { routeros: { ...targetOf(sim).routeros!, version: 7 } } }),
    );
    await expect(provider.create(news)).rejects.toThrow(/rendered for RouterOS 7 .* runs 6\.49\.10/);
    expect(writesSince(sim, 0)).toEqual([]);
    expect(menusOf(sim).flatMap((m) => owned(sim, m))).toEqual([]);
  } finally {
    await sim.close();
  }
});

test("TLS with a CA that did not sign the router's certificate: host and OpenSSL's reason, nothing sent", async () => {
  const [cert, otherCa] = await Promise.all([selfSignedCert("router.test"), selfSignedCert("other CA")]);
  const sim = await startRouterOsSim({ version: "7.16.2", tls: cert, password: "s3cret" });
  try {
    const tls = { ca: otherCa.cert, servername: "router.test" };
    const news = await checked(
      seedNthSticky({ target: { routeros: { ...targetOf(sim).routeros!, tls, timeout: "1s" } } }),
    );
    const message =
      /^cannot connect to 127\.0\.0\.1:\d+: TLS: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate: .*tls\.ca/;
    await expect(provider.create(news)).rejects.toThrow(message);
    await expect(provider.read("gw@x", news)).rejects.toThrow(message);
    await expect(provider.remove("gw@x", news)).rejects.toThrow(message);
    expect(sim.log).toEqual([]);
  } finally {
    await sim.close();
  }
});
