import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { RawRosClient, RouterOsSim, startRouterOsSim } from "../../labs/routeros-sim";
import { NodeRouterosClient, connectNodeRouteros } from "../../labs/routeros-sim/node-routeros-client";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** "pending" when `p` has not settled within `ms`. */
const settledWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => "resolved",
      () => "rejected",
    ),
    sleep(ms).then(() => "pending"),
  ]);

let sim: RouterOsSim;
const clients: NodeRouterosClient[] = [];
const raws: RawRosClient[] = [];
async function client(): Promise<NodeRouterosClient> {
  const c = await connectNodeRouteros(sim);
  clients.push(c);
  return c;
}
async function raw(): Promise<RawRosClient> {
  const r = await RawRosClient.connect(sim);
  raws.push(r);
  await r.login("admin", "");
  return r;
}
const addWords = (i: number) => ["=list=f", `=address=10.7.0.${i}`];

beforeEach(async () => {
  sim = await startRouterOsSim({ version: "7.16.2" });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(raws.splice(0).map((r) => r.close()));
  await sim.close();
});

describe("latency", () => {
  test("a fixed delay applies to every reply", async () => {
    const c = await client();
    sim.faults.latencyMs(150);
    const t0 = Date.now();
    await c.api.write("/system/identity/print");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  test("a function delays per command", async () => {
    const c = await client();
    sim.faults.latencyMs((cmd) => (cmd.endsWith("/add") ? 200 : 0));
    const t0 = Date.now();
    await c.api.write("/system/identity/print");
    const quick = Date.now() - t0;
    await c.api.write("/ip/firewall/address-list/add", addWords(1));
    expect(quick).toBeLessThan(150);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
  });
});

describe("dropAfter", () => {
  test("closes instead of answering the n-th command; not applied; node-routeros leaves write() pending", async () => {
    const c = await client();
    sim.faults.dropAfter(2);
    await c.api.write("/ip/firewall/address-list/add", addWords(1));
    const second = c.api.write("/ip/firewall/address-list/add", addWords(2));
    await c.closed;
    expect(c.closes()).toBe(1);
    expect(await settledWithin(second, 300)).toBe("pending");
    expect(sim.entries("/ip/firewall/address-list").map((e) => e.address)).toEqual(["10.7.0.1"]);
    // One-shot: a new connection works.
    const again = await client();
    await again.api.write("/ip/firewall/address-list/add", addWords(3));
    expect(sim.entries("/ip/firewall/address-list")).toHaveLength(2);
  });

  test("applyBefore: the command takes effect although the client never hears back", async () => {
    const c = await client();
    sim.faults.dropAfter(1, { applyBefore: true });
    const lost = c.api.write("/ip/firewall/address-list/add", addWords(4));
    await c.closed;
    expect(await settledWithin(lost, 200)).toBe("pending");
    expect(sim.entries("/ip/firewall/address-list").map((e) => e.address)).toEqual(["10.7.0.4"]);
  });

  test("counts across connections, from the moment it is set", async () => {
    const a = await client();
    const b = await client();
    await a.api.write("/system/identity/print");
    sim.faults.dropAfter(2);
    await a.api.write("/system/identity/print");
    const lost = b.api.write("/system/identity/print");
    await b.closed;
    expect(await settledWithin(lost, 100)).toBe("pending");
    expect(a.closes()).toBe(0);
  });

  test("reset: a TCP RST makes node-routeros emit 'error' (and no 'close')", async () => {
    const c = await client();
    sim.faults.dropAfter(1, { reset: true });
    void c.api.write("/system/identity/print");
    await sleep(200);
    expect(c.errors.length).toBeGreaterThanOrEqual(1);
    expect(c.closes()).toBe(0);
    expect(c.api.connected).toBe(false);
  });

  test("raw view: the socket just closes, no reply", async () => {
    const r = await raw();
    sim.faults.dropAfter(1);
    await expect(r.command(["/system/identity/print"])).rejects.toThrow("connection closed before !done");
    expect(r.received.filter((s) => s.type !== "!done")).toEqual([]);
  });
});

describe("dropLogin", () => {
  test.each([
    [{}, []],
    [{ reset: true }, ["ECONNRESET"]],
  ])("closes (%j) instead of answering /login, until cleared", async (opts, errors) => {
    sim.faults.dropLogin(opts);
    for (let i = 0; i < 2; i++) {
      const r = await RawRosClient.connect(sim);
      raws.push(r);
      await expect(r.login("admin", "")).rejects.toThrow("connection closed before !done");
      expect(r.errors.map((e) => e.code)).toEqual(errors);
    }
    expect(sim.log.map((l) => l.command)).toEqual(["/login", "/login"]);
    expect(sim.stats().commands).toBe(0);
    sim.faults.dropLogin(null);
    await raw();
    sim.faults.dropLogin(opts);
    sim.faults.clear();
    await raw();
  });
});

describe("fatalAfter", () => {
  test("sends !fatal with the message, then closes; node-routeros emits 'close' and leaves write() pending", async () => {
    const r = await raw();
    const c = await client();
    sim.faults.fatalAfter(2, "out of memory");
    await c.api.write("/system/identity/print");
    const doomed = c.api.write("/system/identity/print");
    await c.closed;
    expect(await settledWithin(doomed, 200)).toBe("pending");
    sim.faults.fatalAfter(1);
    const res = await r.command(["/system/identity/print"], { tag: "z" });
    expect(res.fatal).toBe("simulated fatal error");
    expect(res.done).toBeUndefined();
    await r.closed;
  });
});

describe("trapOn", () => {
  test("matching commands get !trap (with category) then !done and are not applied", async () => {
    const r = await raw();
    const c = await client();
    sim.faults.trapOn((cmd, attrs) => cmd.endsWith("/add") && attrs.list === "f", "simulated failure", 4);
    const res = await r.command(["/ip/firewall/address-list/add", ...addWords(1)]);
    expect(res.traps).toEqual([{ message: "simulated failure", category: 4 }]);
    expect(res.done).toEqual({});
    // node-routeros rejects with the message only: the category is lost.
    await expect(c.api.write("/ip/firewall/address-list/add", addWords(2))).rejects.toEqual(
      new Error("simulated failure"),
    );
    await c.api.write("/ip/firewall/address-list/add", ["=list=g", "=address=10.7.7.7"]);
    expect(sim.entries("/ip/firewall/address-list").map((e) => e.list)).toEqual(["g"]);
    sim.faults.clear();
    await c.api.write("/ip/firewall/address-list/add", addWords(3));
    expect(sim.entries("/ip/firewall/address-list")).toHaveLength(2);
  });
});

describe("log and counters", () => {
  test("every sentence is logged with its connection; stats count reads, writes, connections", async () => {
    const c = await client();
    await c.api.write("/ip/firewall/address-list/add", addWords(1));
    await c.api.write("/ip/firewall/address-list/print", ["?list=f", "=.proplist=address"]);
    await c.api.write("/ip/firewall/address-list/remove", ["=.id=*1"]);
    expect(sim.stats()).toEqual({ commands: 3, writes: 2, reads: 1, connections: 1 });
    const print = sim.log.find((l) => l.command.endsWith("/print"));
    expect(print).toMatchObject({ conn: 1, attrs: { ".proplist": "address" }, queries: ["list=f"] });
    expect(print?.tag).toEqual(expect.any(String));
    expect(print?.at).toEqual(expect.any(Number));
    sim.resetStats();
    expect(sim.stats()).toEqual({ commands: 0, writes: 0, reads: 0, connections: 0 });
    expect(sim.log.map((l) => l.command)).toEqual([
      "/login",
      "/ip/firewall/address-list/add",
      "/ip/firewall/address-list/print",
      "/ip/firewall/address-list/remove",
    ]);
  });
});

describe("node-routeros on !empty (RouterOS 7.18+)", () => {
  test("the real client crashes its process with UNKNOWNREPLY (run in a child process)", async () => {
    await sim.close();
    sim = await startRouterOsSim({ version: "7.18" });
    const script = `
      const { RouterOSAPI } = require(${JSON.stringify(require.resolve("node-routeros"))});
      const api = new RouterOSAPI({ host: ${JSON.stringify(sim.host)}, port: ${sim.port}, user: "admin", password: "" });
      api.on("error", () => {});
      api.connect()
        .then(() => api.write("/ip/firewall/mangle/print"))
        .then((r) => { console.log("RESOLVED " + JSON.stringify(r)); process.exit(0); },
              (e) => { console.log("REJECTED " + e.message); process.exit(0); });
      setTimeout(() => { console.log("HUNG"); process.exit(3); }, 3000);
    `;
    const outcome = await promisify(execFile)(process.execPath, ["-e", script]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
    expect(outcome.code).toBe(1);
    expect(outcome.out).toContain("Tried to process unknown reply: !empty");
  });
});
