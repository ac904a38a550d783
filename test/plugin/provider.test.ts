/**
 * The lbgw plugin's envelope around the provider (plugin/provider.ts), called as the engine calls it, against
 * the RouterOS simulator: secrets arrive and leave sealed, owner and holder come from the URN, check names
 * the property, create/read/delete act on the router, and a read with nothing but an ID is an import.
 */
import type { RouterOsSim } from "../../labs/routeros-sim";
import { CREDENTIAL_PLACEHOLDER, parseImportId } from "../../plugin/import";
import { LoadBalancedGatewayPlugin, openSecrets, parseUrn, secret } from "../../plugin/provider";
import { readRecord, specRecord } from "../../provider/common/record";
import { parseSpec } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";
import { menusOf, seedRouter, targetOf } from "../routeros/support";

const SIG = "4dabf18193072939515e22adb298388d";
const urn = (name: string) => `urn:pulumi:prod::site::lbgw:index:LoadBalancedGateway::${name}`;

describe("envelope", () => {
  test("secrets open anywhere in the props, and the target is sealed in what is returned", () => {
    const props = { target: secret({ routeros: { password: secret("pw") } }), links: [secret("x")] };
    expect(openSecrets(props)).toEqual({ target: { routeros: { password: "pw" } }, links: ["x"] });
  });

  test("a URN gives the stack, project, type and name (also under a parent)", () => {
    expect(parseUrn(urn("office"))).toEqual({
      stack: "prod",
      project: "site",
      type: "lbgw:index:LoadBalancedGateway",
      name: "office",
    });
    expect(parseUrn("urn:pulumi:s::p::my:index:Site$lbgw:index:LoadBalancedGateway::branch-1").name).toBe(
      "branch-1",
    );
  });

  test("import IDs: OWNER@routeros://HOST:PORT or OWNER@linux://HOST:PORT, anything else refused with the form", () => {
    expect(parseImportId("office@routeros://192.0.2.1:8728")).toEqual({
      owner: "office",
      kind: "routeros",
      host: "192.0.2.1",
      port: 8728,
    });
    expect(parseImportId("gw@linux://gw.example:22").kind).toBe("linux");
    expect(() => parseImportId("192.0.2.1")).toThrow(/expected OWNER@routeros:\/\/HOST:PORT/);
  });

  test("the spec record holds the arguments without address, port, credentials, owner or adopt", () => {
    const parsed = parseSpec({ ...seedNthSticky(), adopt: true });
    if (!parsed.ok) throw new Error("fixture");
    const text = specRecord(parsed.spec);
    expect(text).toMatch(/^# lbgw-spec-v1 \{/);
    expect(text).not.toMatch(/127\.0\.0\.1|secret|admin|"owner"|"adopt"/);
    const back = readRecord(`other line\n${text}\n`) as Record<string, unknown>;
    expect(back.target).toEqual({ routeros: { version: 7 } });
    expect(back.links).toEqual(parsed.spec.links);
    expect(readRecord("# lbgw-spec-v1 {not json")).toBeUndefined();
  });
});

describe("against the RouterOS simulator", () => {
  let sim: RouterOsSim;
  const plugin = new LoadBalancedGatewayPlugin();
  const owned = () =>
    menusOf(sim).flatMap((m) => sim.entries(m).filter((e) => (e.comment ?? "").startsWith("lbgw:")));

  beforeAll(async () => {
    sim = await seedRouter("7.16.2", "s3cret");
  });
  afterAll(async () => sim?.close());

  test("check: owner and holder from the URN, the target sealed; a bad argument names its path", async () => {
    const { owner: _o, target: _t, ...args } = seedNthSticky();
    const news = { ...args, target: secret(targetOf(sim)) };
    const r = await plugin.check(urn("branch-office"), {}, news);
    expect(r.failures).toEqual([]);
    expect(r.inputs.owner).toBe("branch_office");
    expect(r.inputs.holder).toBe("site/prod/branch-office");
    expect(r.inputs.target[SIG]).toBeDefined();
    const bad = await plugin.check(
      urn("x"),
      {},
      { ...news, links: [{ ...args.links[0], weight: 0 }, args.links[1]] },
    );
    expect(bad.failures).toEqual([
      expect.objectContaining({
        property: "links[0].weight",
        reason: expect.stringContaining("whole number"),
      }),
    ]);
  });

  test("create, read, import (a read with only the ID) and delete act on the router; the target stays sealed", async () => {
    const { owner: _o, target: _t, ...args } = seedNthSticky();
    const checked = await plugin.check(urn("office"), {}, { ...args, target: secret(targetOf(sim)) });
    const created = await plugin.create(urn("office"), checked.inputs);
    expect(created.id).toBe(`office@routeros://${sim.host}:${sim.port}`);
    expect(created.outs.target[SIG]).toBeDefined();
    expect(owned().length).toBe(created.outs.ownedEntries);
    expect(sim.entries("/system/script").map((e) => e.name)).toEqual(["lbgw-office-spec"]);

    const read = await plugin.read(created.id, urn("office"), created.outs);
    expect(read.props.rules).toEqual(created.outs.rules);

    // An import: the arguments from the spec record, the login from the environment.
    process.env.LBGW_ROUTEROS_PASSWORD = "s3cret";
    try {
      const imported = await plugin.read(created.id, urn("office"), {});
      const inputs = openSecrets(imported.inputs) as Record<string, Record<string, Record<string, unknown>>>;
      expect(inputs.target.routeros).toMatchObject({ host: sim.host, port: sim.port, version: 7 });
      expect(inputs.target.routeros.password).toBe(CREDENTIAL_PLACEHOLDER);
      const want = parseSpec({ ...args, owner: "office", target: targetOf(sim) });
      expect(want.ok && inputs.links).toEqual(want.ok && want.spec.links);
      expect(imported.props.rules).toEqual(created.outs.rules);
      expect(imported.props.instance).toBe(created.outs.instance);
    } finally {
      delete process.env.LBGW_ROUTEROS_PASSWORD;
    }

    await plugin.delete(created.id, urn("office"), created.outs);
    expect(owned()).toEqual([]);
  });

  test("an import without the password fails naming the variable, before connecting", async () => {
    const before = sim.log.length;
    await expect(plugin.read(`office@routeros://${sim.host}:${sim.port}`, urn("office"), {})).rejects.toThrow(
      /LBGW_ROUTEROS_PASSWORD/,
    );
    expect(sim.log.length).toBe(before);
  });
});
