/**
 * Life-cycle safety on RouterOS, through the real provider module and node-routeros against the simulator:
 * a resource instance only ever removes what it holds (the claim, provider/common/claim.ts), a second claim
 * of an owner is refused before any write, and the spec is checked against the device before any write.
 * Engine-level versions of the same flows run in test/engine/lifecycle.test.ts.
 */
import * as provider from "../../provider/index";
import { applyRouterOs } from "../../provider/routeros/backend";
import { renderRouterOs } from "../../provider/routeros/render";
import { buildPlan } from "../../provider/plan/plan";
import { parseSpec, type SpecInput } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { selfSignedCert } from "../../labs/routeros-sim/self-signed";
import { HOLDER, checked, menusOf, owned, seedRouter, targetOf, up, writesSince } from "./support";

type Props = Record<string, unknown>;

const VERSIONS = ["6.49.10", "7.16.2"];

describe.each(VERSIONS)("RouterOS %s: a resource only removes what it holds", (version) => {
  let sim: RouterOsSim;
  let spec: SpecInput;
  beforeEach(async () => {
    sim = await seedRouter(version);
    spec = seedNthSticky({ target: targetOf(sim) });
  });
  afterEach(async () => sim.close());

  /** Every owned entry of owner gw, by menu, without ids. */
  const ownedState = () => menusOf(sim).map((m) => owned(sim, m).map(({ ".id": _id, ...rest }) => rest));
  const ownedCount = () => ownedState().reduce((n, m) => n + m.length, 0);
  const claimComment = () => owned(sim, "/interface/list")[0]?.comment;

  /** A replace as the engine runs it: diff says replace, the new resource is created, then the old deleted. */
  async function replace(old: { id: string; outs: Props }, news: Props) {
    const d = await provider.diff(old.id, old.outs, news);
    expect(d.replaces).toContain("device");
    expect(d.deleteBeforeReplace).toBe(false);
    const created = await provider.create(news);
    await provider.remove(old.id, old.outs);
    return created;
  }

  test("the claim names the instance and the holder; the rules output does not show it", async () => {
    const first = await up(spec);
    expect(first.outs.instance).toMatch(/^[0-9a-f]{12}$/);
    expect(claimComment()).toBe(`lbgw:gw:lan instance=${first.outs.instance as string} holder=${HOLDER}`);
    expect(Object.values(first.outs.rules as Record<string, string>).join("\n")).not.toContain("instance=");
    expect(first.outs.rules).toEqual(first.inputs.rules);
  });

  test("the same router spelled differently (IP -> name) is replaced in place: the old delete removes nothing", async () => {
    const first = await up(spec);
    const before = ownedState();
    const from = sim.log.length;
    const respelt = await checked(
      seedNthSticky({ target: { routeros: { ...targetOf(sim).routeros!, host: "localhost" } } }),
      first.inputs,
    );
    const created = await replace(first, respelt);
    // One write: the claim moves to the new instance. Nothing is ever removed.
    const writes = writesSince(sim, from);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\/interface\/list\/set /);
    expect(ownedCount()).toBe(before.reduce((n, m) => n + m.length, 0));
    expect(claimComment()).toContain(`instance=${created.outs.instance as string}`);
    const withoutClaim = (s: ReturnType<typeof ownedState>) =>
      JSON.stringify(s).replace(/ instance=[0-9a-f]+ holder=[^"]*/g, "");
    expect(withoutClaim(ownedState())).toBe(withoutClaim(before));
    // The new instance's destroy removes everything.
    await provider.remove(created.id as string, created.outs as Props);
    expect(ownedCount()).toBe(0);
  });

  test("api -> api-ssl on the same router keeps the configuration in place", async () => {
    await sim.close();
    sim = await seedRouter(version, "s3cret", { apiSsl: await selfSignedCert() });
    spec = seedNthSticky({ target: targetOf(sim) });
    const first = await up(spec);
    const before = ownedCount();
    const from = sim.log.length;
    const tlsTarget = { ...targetOf(sim).routeros!, port: sim.tlsPort, tls: { insecure: true } };
    const news = await checked(seedNthSticky({ target: { routeros: tlsTarget } }), first.inputs);
    const created = await replace(first, news);
    expect(created.outs.device).toBe(`routeros://127.0.0.1:${sim.tlsPort}`);
    expect(writesSince(sim, from)).toHaveLength(1);
    expect(ownedCount()).toBe(before);
  });

  test("a replace that moves to another router cleans the old one", async () => {
    const first = await up(spec);
    const other = await seedRouter(version);
    try {
      const news = await checked(seedNthSticky({ target: targetOf(other) }), first.inputs);
      const created = await replace(first, news);
      expect(ownedCount()).toBe(0);
      expect(menusOf(other).reduce((n, m) => n + owned(other, m).length, 0)).toBe(created.outs.ownedEntries);
    } finally {
      await other.close();
    }
  });

  test("a second stack claiming the same owner is refused before any write; its destroy leaves the first intact", async () => {
    await up(spec);
    const before = ownedState();
    const from = sim.log.length;
    const second = await checked(spec, {}, "tests/other-stack/gw");
    const err = (await provider.create(second).catch((e) => e)) as Error;
    expect(err.message).toMatch(
      /owner "gw" on routeros:\/\/127\.0\.0\.1:\d+ is held by resource tests\/dev\/gw \(instance [0-9a-f]{12}\)/,
    );
    expect(err.message).toMatch(/adopt: true/);
    expect(writesSince(sim, from)).toEqual([]);
    // Had it been recorded anyway (an older version did: it "created" with 0 writes), its destroy removes
    // nothing.
    await provider.remove("gw@x", { ...second, instance: "0123456789ab" });
    await provider.remove("gw@x", { ...second }); // no instance at all: state written before claims
    expect(ownedState()).toEqual(before);
  });

  test("two resources of one stack with one owner: exactly one wins, even when created in parallel", async () => {
    const a = await checked(spec, {}, "tests/dev/gw");
    const b = await checked(spec, {}, "tests/dev/gw-copy");
    const results = await Promise.allSettled([provider.create(a), provider.create(b)]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((refused.reason as Error).message).toMatch(/is held by resource tests\/dev\/gw(-copy)? /);
  });

  test("adopt: true takes the owner over; the previous holder's destroy then removes nothing", async () => {
    const first = await up(spec);
    const adopting = await checked({ ...spec, adopt: true }, {}, "tests/other-stack/gw");
    const from = sim.log.length;
    const adopted = await provider.create(adopting);
    expect(writesSince(sim, from)).toHaveLength(1);
    await provider.remove(first.id, first.outs);
    expect(ownedCount()).toBe(adopted.outs.ownedEntries);
    await provider.remove(adopted.id as string, adopted.outs as Props);
    expect(ownedCount()).toBe(0);
  });

  test("configuration written before claims existed: its own update adopts it, a new resource needs adopt", async () => {
    const parsed = parseSpec(spec);
    if (!parsed.ok) throw new Error("fixture");
    const plan = buildPlan(parsed.spec);
    const device = { ...parsed.spec.target.routeros!, timeoutMs: 5000 };
    await applyRouterOs(device, "gw", renderRouterOs(plan, device.version)); // no claim: an older version
    expect(claimComment()).toBe("lbgw:gw:lan");
    const fresh = await checked(spec);
    await expect(provider.create(fresh)).rejects.toThrow(/no resource claims .* `adopt: true`/);
    // The old state has no instance: its update gets one and writes the claim.
    const updated = await provider.update("gw@x", fresh, fresh);
    expect(claimComment()).toContain(`instance=${updated.outs.instance as string}`);
  });

  test("the spec is checked against the router before any write", async () => {
    const from = sim.log.length;
    const bad = seedNthSticky({
      target: targetOf(sim),
      lan: { interfaces: ["bridge-lan"], networks: ["192.168.0.0/24"] },
      links: [
        { name: "wlan1", interface: "wlan1", gateway: "8.8.8.8", check: { targets: ["198.51.100.1"] } },
        { name: "wlan2", interface: "wlan9", gateway: "10.111.0.1", check: { targets: ["198.51.100.2"] } },
      ],
    });
    const err = (await provider.create(await checked(bad)).catch((e) => e)) as Error;
    expect(err.message).toMatch(
      /lan\.interfaces\[0\]: interface "bridge-lan" does not exist on routeros:\/\/127\.0\.0\.1:\d+ \(it has Local, /,
    );
    expect(err.message).toMatch(
      /links\[0\] \("wlan1"\)\.gateway: 8\.8\.8\.8 is outside every subnet on wlan1 \(10\.112\.0\.2\/24\)/,
    );
    expect(err.message).toMatch(/links\[1\] \("wlan2"\)\.interface: interface "wlan9" does not exist/);
    expect(writesSince(sim, from)).toEqual([]);
  });

  test("a second owner's router-traffic routes are refused before any write", async () => {
    await up(spec);
    const from = sim.log.length;
    const err = (await provider
      .create(await checked({ ...spec, owner: "gw2" }, {}, "tests/dev/gw2"))
      .catch((e) => e)) as Error;
    expect(err.message).toMatch(/routerTraffic: owner "gw" already routes the router's own traffic/);
    expect(writesSince(sim, from)).toEqual([]);
  });
});

describe("preview with values not known yet", () => {
  let sim: RouterOsSim;
  beforeAll(async () => (sim = await seedRouter("7.16.2")));
  afterAll(async () => sim.close());

  test("an unknown link gateway on an existing gateway is an update with unknowns, not a replace", async () => {
    const first = await up(seedNthSticky({ target: targetOf(sim) }));
    const spec = seedNthSticky({ target: targetOf(sim) });
    (spec.links[1] as { gateway: string }).gateway = provider.UNKNOWN;
    const news = await checked(spec, first.inputs);
    expect(news.device).toBe(first.outs.device);
    expect(news.rules).toBe(provider.UNKNOWN);
    const d = await provider.diff(first.id, first.outs, news);
    expect(d).toMatchObject({ changes: true, replaces: [] });
  });

  test("an unknown target is an update too; a known other device is a replace", async () => {
    const first = await up(seedNthSticky({ target: targetOf(sim) }));
    const unknownHost = seedNthSticky({
      target: { routeros: { ...targetOf(sim).routeros!, host: provider.UNKNOWN } },
    });
    const d = await provider.diff(first.id, first.outs, await checked(unknownHost, first.inputs));
    expect(d.replaces).toEqual([]);
    const moved = seedNthSticky({ target: { routeros: { ...targetOf(sim).routeros!, host: "192.0.2.1" } } });
    expect((await provider.diff(first.id, first.outs, await checked(moved, first.inputs))).replaces).toEqual([
      "device",
    ]);
  });
});
