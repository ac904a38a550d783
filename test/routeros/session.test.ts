/**
 * node-routeros made dependable: each known defect of node-routeros 1.6.9, shown neutralised against the
 * simulator (which reproduces it with the raw client in its own suite), plus timeouts, TLS, the per-device
 * lock and what a failure halfway through an apply leaves behind.
 */
import type * as net from "node:net";
import { applyRouterOs, ApplyError } from "../../provider/routeros/backend";
import type { RouterOsDevice } from "../../provider/routeros/backend";
import { buildPlan } from "../../provider/plan/plan";
import { renderRouterOs } from "../../provider/routeros/render";
import { parseSpec } from "../../provider/spec/schema";
import { RosConnectionError, RosSession, RosTrapError, defaultPort } from "../../provider/routeros/session";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { startRouterOsSim } from "../../labs/routeros-sim";
import { caSignedCert, selfSignedCert } from "../../labs/routeros-sim/self-signed";
import { seedNthSticky } from "../fixtures/specs";
import { foreignEntries, menusOf, owned, seedRouter } from "./support";

const target = (sim: RouterOsSim, extra: Partial<RouterOsDevice> = {}): RouterOsDevice => ({
  host: sim.host,
  port: sim.port,
  username: "admin",
  password: "s3cret",
  timeoutMs: 2000,
  version: sim.version.major as 6 | 7,
  ...extra,
});

describe("session over node-routeros", () => {
  let sim: RouterOsSim;
  afterEach(async () => sim?.close());

  test("!empty (RouterOS 7.18+) resolves to no items instead of crashing, and the session goes on", async () => {
    sim = await seedRouter("7.18");
    const s = await RosSession.open(target(sim));
    try {
      expect(await s.command(["/ip/firewall/mangle/print", "?comment=nothing-has-this"])).toEqual([]);
      expect(sim.log.length).toBeGreaterThan(0);
      expect((await s.command(["/ip/firewall/mangle/print"])).length).toBe(2);
    } finally {
      await s.close();
    }
  });

  test("!trap keeps its category and message", async () => {
    sim = await seedRouter("7.16.2");
    sim.faults.trapOn((cmd) => cmd.endsWith("/add"), "failure: already have such entry", 5);
    const s = await RosSession.open(target(sim));
    try {
      const err = await s
        .command(["/ip/firewall/address-list/add", "=list=x", "=address=10.0.0.1"])
        .catch((e) => e);
      expect(err).toBeInstanceOf(RosTrapError);
      expect(err).toMatchObject({ category: 5, trap: "failure: already have such entry" });
      // a refused command does not end the session
      expect((await s.command(["/ip/firewall/nat/print"])).length).toBe(1);
    } finally {
      await s.close();
    }
  });

  test.each([
    [
      "!fatal",
      (sim: RouterOsSim) => sim.faults.fatalAfter(1, "out of memory"),
      /router ended the session|closed/,
    ],
    [
      "a closed socket",
      (sim: RouterOsSim) => sim.faults.dropAfter(1),
      /^connection to 127\.0\.0\.1:\d+ was closed by the router$/,
    ],
    [
      "a reset socket",
      (sim: RouterOsSim) => sim.faults.dropAfter(1, { reset: true }),
      /^connection to 127\.0\.0\.1:\d+ failed: ECONNRESET: read ECONNRESET$/,
    ],
  ])(
    "%s rejects every pending command (none hangs) and later ones at once",
    async (_what, fault, message) => {
      sim = await seedRouter("7.16.2");
      const s = await RosSession.open(target(sim, { timeoutMs: 20_000 }));
      fault(sim);
      const pending = [
        s.command(["/ip/route/print"]),
        s.command(["/ip/firewall/mangle/print"]),
        s.command(["/ip/firewall/nat/print"]),
      ];
      const started = Date.now();
      const results = await Promise.allSettled(pending);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(results.every((r) => r.status === "rejected")).toBe(true);
      const reason = (results[0] as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(RosConnectionError);
      expect(String(reason.message)).toMatch(message);
      await expect(s.command(["/ip/route/print"])).rejects.toBeInstanceOf(RosConnectionError);
      await s.close();
    },
  );

  test("every command has its own timeout", async () => {
    sim = await seedRouter("7.16.2");
    const s = await RosSession.open(target(sim, { timeoutMs: 300 }));
    sim.faults.latencyMs(2000);
    await expect(s.command(["/ip/route/print"])).rejects.toThrow(/no answer within 300 ms/);
    await s.close();
  });

  test("an idle session survives node-routeros' idle timeout (keepalive, error listener)", async () => {
    sim = await seedRouter("7.16.2");
    const s = await RosSession.open(target(sim, { idleTimeoutSec: 1 }));
    await new Promise((r) => setTimeout(r, 2500));
    expect((await s.command(["/ip/firewall/nat/print"])).length).toBe(1);
    await s.close();
  });

  test("TLS: port 8729 by default; verified against a CA, or insecure only when asked", async () => {
    expect(defaultPort({ tls: { insecure: true } })).toBe(8729);
    expect(defaultPort({ tls: false })).toBe(8728);
    expect(defaultPort({ port: 1234, tls: { insecure: true } })).toBe(1234);
    const cert = await selfSignedCert("router.test");
    sim = await startRouterOsSim({ version: "7.16.2", tls: cert, password: "s3cret" });
    const verified = await RosSession.open(
      target(sim, { tls: { ca: cert.cert, servername: "router.test" } }),
    );
    expect(await verified.command(["/system/identity/print"])).toEqual([{ name: "MikroTik" }]);
    await verified.close();
    const insecure = await RosSession.open(target(sim, { tls: { insecure: true } }));
    await insecure.close();
    await expect(
      RosSession.open(target(sim, { tls: { ca: cert.cert, servername: "other.name" } })),
    ).rejects.toThrow(
      /^cannot connect to 127\.0\.0\.1:\d+: TLS: ERR_TLS_CERT_ALTNAME_INVALID: Hostname\/IP does not match .*: set tls\.servername/,
    );
  });

  test("TLS: a CA that did not sign the router's certificate is named in the error, with OpenSSL's reason", async () => {
    const [issued, otherCa] = await Promise.all([caSignedCert("router.test"), selfSignedCert("other CA")]);
    sim = await startRouterOsSim({ version: "7.16.2", tls: issued, password: "s3cret" });
    const tls = (ca: string) => target(sim, { tls: { ca, servername: "router.test" } });
    // the right CA works
    await (await RosSession.open(tls(issued.ca))).close();
    await expect(RosSession.open(tls(otherCa.cert))).rejects.toThrow(
      new RegExp(
        `^cannot connect to ${sim.host}:${sim.port}: TLS: UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate: ` +
          "the router's certificate could not be verified: is tls.ca the CA that signed it\\?$",
      ),
    );
    // a self-signed router certificate against a CA: OpenSSL's DEPTH_ZERO_SELF_SIGNED_CERT
    await sim.close();
    sim = await startRouterOsSim({
      version: "7.16.2",
      tls: await selfSignedCert("router.test"),
      password: "s3cret",
    });
    await expect(RosSession.open(tls(otherCa.cert))).rejects.toThrow(
      /: TLS: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate: .* is tls\.ca the CA that signed it\?$/,
    );
    // nothing reached the router: the handshake failed before the login
    expect(sim.log).toEqual([]);
  });

  test.each([
    [
      "reset (RST)",
      { reset: true },
      /^connection to 127\.0\.0\.1:\d+ was reset during login \(ECONNRESET: read ECONNRESET\)$/,
    ],
    ["closed (FIN)", {}, /^connection to 127\.0\.0\.1:\d+ was closed by the router during login$/],
  ])(
    "the connection %s during the login is reported as such, at once (not as a timeout)",
    async (_how, opts, message) => {
      sim = await seedRouter("7.16.2");
      sim.faults.dropLogin(opts);
      const started = Date.now();
      const err = await RosSession.open(target(sim, { timeoutMs: 5000 })).catch((e: Error) => e);
      expect(err).toBeInstanceOf(RosConnectionError);
      expect((err as Error).message).toMatch(message);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(sim.log.map((e) => e.command)).toEqual(["/login"]);
    },
  );

  test("a late socket 'error' (after node-routeros destroyed its Connector) does not crash the process", async () => {
    sim = await seedRouter("7.16.2");
    const late = () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    // node-routeros re-emits every socket 'error' on its Connector and drops the Connector's listeners on
    // destroy: without a listener kept, the emit below throws (an uncaught exception in a real socket).
    const socketOf = (s: RosSession) =>
      (s as unknown as { connector: { socket: net.Socket } }).connector.socket;
    const closed = await RosSession.open(target(sim));
    const socket = socketOf(closed);
    await closed.close();
    expect(() => socket.emit("error", late())).not.toThrow();
    // a first error ends a live session (node-routeros destroys the Connector), a second one is harmless
    const live = await RosSession.open(target(sim));
    const liveSocket = socketOf(live);
    expect(() => liveSocket.emit("error", late())).not.toThrow();
    await expect(live.command(["/ip/route/print"])).rejects.toThrow(
      /^connection to 127\.0\.0\.1:\d+ failed: ECONNRESET: read ECONNRESET$/,
    );
    expect(() => liveSocket.emit("error", late())).not.toThrow();
    await live.close();
  });
});

describe("a port that is not a RouterOS API service", () => {
  /** A TCP server that answers the login's first bytes with `reply`, and then stays silent. */
  async function answering(reply: Buffer): Promise<{ port: number; close(): void }> {
    const { createServer } = await import("node:net");
    const sockets: net.Socket[] = [];
    const server = createServer((s) => {
      sockets.push(s);
      s.once("data", () => s.write(reply));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
      port: (server.address() as net.AddressInfo).port,
      close: () => {
        for (const s of sockets) s.destroy();
        server.close();
      },
    };
  }
  const word = (w: string) => Buffer.concat([Buffer.from([w.length]), Buffer.from(w)]);
  const open = (port: number) =>
    RosSession.open({ host: "127.0.0.1", port, username: "admin", password: "x", timeoutMs: 1500 });

  test("a reply node-routeros cannot place during the login fails the connection (it used to crash the process)", async () => {
    const peer = await answering(
      Buffer.concat([word("!re"), word(".tag=other"), word("=x=1"), Buffer.from([0])]),
    );
    try {
      await expect(open(peer.port)).rejects.toThrow(
        /^unreadable reply from 127\.0\.0\.1:\d+ during login \(.*\): is it a RouterOS API service\?$/,
      );
    } finally {
      peer.close();
    }
  });

  test("a service that answers, but not as the API, is named as such instead of 'no answer'", async () => {
    const peer = await answering(Buffer.from("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
    try {
      await expect(open(peer.port)).rejects.toThrow(
        /^127\.0\.0\.1:\d+ answered, but not with a RouterOS API login reply within 1500 ms: is it a RouterOS API service\?$/,
      );
    } finally {
      peer.close();
    }
  });
});

describe("apply", () => {
  let sim: RouterOsSim;
  afterEach(async () => sim?.close());

  const desiredFor = (sim: RouterOsSim, weight = 1, owner = "gw") => {
    const s = seedNthSticky({ owner });
    (s.links as Array<Record<string, unknown>>)[0].weight = weight;
    const r = parseSpec(s);
    if (!r.ok) throw new Error("bad fixture");
    return renderRouterOs(buildPlan(r.spec), sim.version.major as 6 | 7);
  };
  const ownedAll = () => menusOf(sim).flatMap((m) => owned(sim, m));
  const foreignAll = () => menusOf(sim).map((m) => foreignEntries(sim, m));

  test("operations on one device are serialised, even when Pulumi runs resources in parallel", async () => {
    sim = await seedRouter("7.16.2");
    const device = target(sim);
    await Promise.all([
      applyRouterOs(device, "gw", desiredFor(sim)),
      applyRouterOs(device, "gw2", desiredFor(sim, 1, "gw2")),
      applyRouterOs(device, "gw3", desiredFor(sim, 1, "gw3")),
    ]);
    // each connection's commands form one contiguous run in the log
    const runs = sim.log.map((e) => e.conn).filter((c, i, all) => i === 0 || all[i - 1] !== c);
    expect(new Set(runs).size).toBe(runs.length);
    expect(owned(sim, "/ip/firewall/mangle", "gw2").length).toBe(
      owned(sim, "/ip/firewall/mangle", "gw").length,
    );
  });

  test("a command refused halfway through a create is rolled back: the device is as before", async () => {
    sim = await seedRouter("7.16.2");
    const foreign = foreignAll();
    let adds = 0;
    sim.faults.trapOn((cmd) => cmd.endsWith("/add") && ++adds === 12, "failure: out of memory", 1);
    const err = await applyRouterOs(target(sim), "gw", desiredFor(sim)).catch((e) => e);
    expect(err).toBeInstanceOf(ApplyError);
    expect(err.restored).toBe(true);
    expect(err.message).toMatch(/out of memory.*previous configuration was restored/);
    expect(ownedAll()).toEqual([]);
    expect(foreignAll()).toEqual(foreign);
  });

  test("a refused update restores the previous owned state", async () => {
    sim = await seedRouter("7.16.2");
    await applyRouterOs(target(sim), "gw", desiredFor(sim, 1));
    const before = ownedAll().map(({ ".id": _id, ...rest }) => rest);
    sim.faults.trapOn((cmd) => cmd.endsWith("/add"), "failure: out of memory", 1);
    const err = await applyRouterOs(target(sim), "gw", desiredFor(sim, 3)).catch((e) => e);
    expect(err.restored).toBe(true);
    sim.faults.clear();
    const after = ownedAll().map(({ ".id": _id, ...rest }) => rest);
    expect(new Set(after.map((e) => JSON.stringify(e)))).toEqual(
      new Set(before.map((e) => JSON.stringify(e))),
    );
  });

  test.each([3, 17, 40])(
    "the connection dropped after command %i of a create: the rerun converges, no duplicates, foreign intact",
    async (k) => {
      sim = await seedRouter("7.16.2");
      const foreign = foreignAll();
      sim.faults.dropAfter(k, { applyBefore: k % 2 === 1 });
      await expect(applyRouterOs(target(sim), "gw", desiredFor(sim))).rejects.toThrow();
      sim.faults.clear();
      const result = await applyRouterOs(target(sim), "gw", desiredFor(sim));
      const comments = ownedAll().map((e) => e.comment);
      expect(new Set(comments).size).toBe(comments.length);
      expect(comments.length).toBe(result.rules.length);
      expect(foreignAll()).toEqual(foreign);
    },
  );
});
