import { RawRosClient, RouterOsSim, startRouterOsSim } from "../../labs/routeros-sim";
import { connectNodeRouteros } from "../../labs/routeros-sim/node-routeros-client";

const sims: RouterOsSim[] = [];
async function sim(opts: Parameters<typeof startRouterOsSim>[0] = {}): Promise<RouterOsSim> {
  const s = await startRouterOsSim(opts);
  sims.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

describe("login with node-routeros", () => {
  test("6.43+ method: one /login with name and password", async () => {
    const s = await sim({ version: "7.16.2", password: "secret" });
    const client = await connectNodeRouteros(s, { password: "secret" });
    const [identity] = await client.api.write("/system/identity/print");
    expect(identity).toEqual({ name: "MikroTik" });
    await client.close();
    const logins = s.log.filter((l) => l.command === "/login");
    expect(logins).toHaveLength(1);
    expect(logins[0].attrs).toEqual({ name: "admin", password: "secret" });
  });

  test("pre-6.43 router: node-routeros falls back to the challenge it gets in =ret=", async () => {
    const s = await sim({ version: "6.40.9", password: "p4ss" });
    const client = await connectNodeRouteros(s, { password: "p4ss" });
    expect(await client.api.write("/system/identity/print")).toEqual([{ name: "MikroTik" }]);
    await client.close();
    const logins = s.log.filter((l) => l.command === "/login");
    expect(logins).toHaveLength(2);
    expect(logins[1].attrs.response).toMatch(/^00[0-9a-f]{32}$/);
  });

  test("legacyLogin forces the challenge method on a v7 version", async () => {
    const s = await sim({ version: "7.16.2", legacyLogin: true, password: "x" });
    const client = await connectNodeRouteros(s, { password: "x" });
    expect(await client.api.write("/system/identity/print")).toHaveLength(1);
    await client.close();
    expect(s.log.filter((l) => l.command === "/login")).toHaveLength(2);
  });

  test.each(["7.16.2", "6.40.9"])("wrong password on %s is rejected (CANTLOGIN)", async (version) => {
    const s = await sim({ version, password: "right" });
    await expect(connectNodeRouteros(s, { password: "wrong" })).rejects.toMatchObject({
      errno: "CANTLOGIN",
      message: "Username or password is invalid",
    });
  });

  test("credentials are compared as the router holds them: bytes in its codepage (win1252)", async () => {
    const s = await sim({ version: "7.16.2", username: "bjørn", password: "pässwörd€" });
    const client = await connectNodeRouteros(s, { user: "bjørn", password: "pässwörd€" });
    await client.close();
    // on the wire (read back byte for byte as latin1): "€" is the single win1252 byte 0x80
    expect(s.log[0].attrs).toEqual({ name: "bj\xf8rn", password: "p\xe4ssw\xf6rd\x80" });
    // node-routeros sends a character outside win1252 as "?" (one per UTF-16 unit): it can never match
    const emoji = await sim({ version: "7.16.2", password: "p\u{1F600}" });
    await expect(connectNodeRouteros(emoji, { password: "p\u{1F600}" })).rejects.toMatchObject({
      errno: "CANTLOGIN",
    });
    expect(emoji.log[0].attrs.password).toBe("p??");
  });

  test("pre-6.43 challenge login with a win1252 password beyond ASCII", async () => {
    const s = await sim({ version: "6.40.9", password: "pässwörd€" });
    const raw = await RawRosClient.connect(s);
    await raw.loginLegacy("admin", "p\xe4ssw\xf6rd\x80");
    await raw.close();
  });

  test("wrong user name is rejected", async () => {
    const s = await sim({ username: "ops", password: "" });
    await expect(connectNodeRouteros(s, { user: "admin" })).rejects.toMatchObject({ errno: "CANTLOGIN" });
  });
});

describe("login on the wire", () => {
  let raw: RawRosClient;
  afterEach(async () => raw?.close());

  test("RouterOS 7 text for a failed login; the connection stays open", async () => {
    const s = await sim({ version: "7.16.2", password: "right" });
    raw = await RawRosClient.connect(s);
    const r = await raw.command(["/login", "=name=admin", "=password=wrong"]);
    expect(r.traps).toEqual([{ message: "invalid user name or password (6)" }]);
    expect(r.done).toEqual({});
    await raw.login("admin", "right");
  });

  test("old versions say 'cannot log in'", async () => {
    const s = await sim({ version: "6.40.9", password: "right" });
    raw = await RawRosClient.connect(s);
    await expect(raw.loginLegacy("admin", "wrong")).rejects.toThrow(/^cannot log in$/);
  });

  test("any command before login gets !fatal 'not logged in' and the connection closes", async () => {
    const s = await sim();
    raw = await RawRosClient.connect(s);
    const r = await raw.command(["/system/resource/print"]);
    expect(r.fatal).toBe("not logged in");
    expect(r.done).toBeUndefined();
    await raw.closed;
  });

  test("/login without a password returns a challenge on any version; the challenge answer works before 6.45.1", async () => {
    const s = await sim({ version: "6.44.6", password: "pw" });
    raw = await RawRosClient.connect(s);
    const r = await raw.command(["/login", "=name=admin"]);
    expect(r.done?.ret).toMatch(/^[0-9a-f]{32}$/);
    await raw.close();
    raw = await RawRosClient.connect(s);
    await raw.loginLegacy("admin", "pw");
    expect((await raw.command(["/system/identity/print"])).re).toEqual([{ name: "MikroTik" }]);
  });

  test("7.x still hands out a challenge but refuses the old =response= login", async () => {
    const s = await sim({ version: "7.16.2", password: "pw" });
    raw = await RawRosClient.connect(s);
    await expect(raw.loginLegacy("admin", "pw")).rejects.toThrow("invalid user name or password (6)");
  });

  test("/quit gets !fatal 'session terminated on request'", async () => {
    const s = await sim();
    raw = await RawRosClient.connect(s);
    await raw.login("admin", "");
    const r = await raw.command(["/quit"]);
    expect(r.fatal).toBe("session terminated on request");
    await raw.closed;
  });

  test("node-routeros' keepalive sentence `#` is answered with !done", async () => {
    const s = await sim();
    raw = await RawRosClient.connect(s);
    await raw.login("admin", "");
    const r = await raw.command(["#"], { tag: "ka" });
    expect(r.replies).toEqual([{ type: "!done", tag: "ka", attrs: {}, words: [".tag=ka"] }]);
  });
});

describe("node-routeros keepalive", () => {
  test("with keepalive: true the client sends `#` every timeout/2 s and stays connected", async () => {
    const s = await sim();
    const client = await connectNodeRouteros(s, { keepalive: true, timeout: 1 });
    await new Promise((r) => setTimeout(r, 1800));
    const keepalives = s.log.filter((l) => l.command === "#");
    expect(keepalives.length).toBeGreaterThanOrEqual(2);
    expect(keepalives[0].tag).toBeDefined();
    expect(client.errors).toEqual([]);
    expect(await client.api.write("/system/identity/print")).toHaveLength(1);
    await client.close();
  });
});
