import { parseSpec } from "../../provider/spec/schema";
import { buildPlan, interleave } from "../../provider/plan/plan";
import { seedEcmp, seedNthSticky, thirdLink } from "../fixtures/specs";

function failures(input: unknown): Record<string, string> {
  const r = parseSpec(input);
  if (r.ok) throw new Error("expected the spec to be rejected");
  return Object.fromEntries(r.failures.map((f) => [f.property, f.reason]));
}

function link(i: number, extra: Record<string, unknown>) {
  const s = seedNthSticky();
  (s.links as Array<Record<string, unknown>>)[i] = { ...s.links[i], ...extra };
  return s;
}

describe("spec validation: every invalid input names the property and the reason", () => {
  test("the seed spec is accepted and defaults are filled in", () => {
    const r = parseSpec(seedNthSticky());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec.links[0]).toMatchObject({ weight: 1, nat: "masquerade", tier: 1 });
    expect(r.spec.links[0].check).toEqual({
      targets: ["198.51.100.1"],
      interval: "300ms",
      timeout: "300ms",
      failAfter: 3,
      recoverAfter: 10,
    });
    expect(r.spec.target.routeros?.version).toBe(7);
    expect(r.spec.inboundSymmetry).toBe(true);
  });

  test.each([
    ["weight 0", link(0, { weight: 0 }), "links[0].weight", /whole number from 1 to 100/],
    ["fractional weight", link(1, { weight: 1.5 }), "links[1].weight", /whole number/],
    [
      "gateway that is not an address",
      link(0, { gateway: "isp.example" }),
      "links[0].gateway",
      /IPv4 address/,
    ],
    [
      "gateway given as a prefix",
      link(0, { gateway: "10.112.0.1/24" }),
      "links[0].gateway",
      /not a name or a prefix/,
    ],
    ["name with a space", link(0, { name: "wlan 1" }), "links[0].name", /contains " "/],
    ["name with a quote", link(0, { name: 'wl"an' }), "links[0].name", /contains "\\""/],
    ["name with a newline", link(0, { name: "wl\nan" }), "links[0].name", /contains "\\n"/],
    ["name with $()", link(0, { name: "$(reboot)" }), "links[0].name", /contains "\$"/],
    [
      "interface with a semicolon",
      link(1, { interface: "wlan2;reboot" }),
      "links[1].interface",
      /contains ";"/,
    ],
    ["duplicate link names", link(1, { name: "wlan1" }), "links[1].name", /duplicate link name "wlan1"/],
    [
      "two links on one interface",
      link(1, { interface: "wlan1" }),
      "links[1].interface",
      /used by two links/,
    ],
    [
      "probe target equal to a gateway",
      link(0, { check: { targets: ["10.111.0.1"] } }),
      "links[0].check.targets[0]",
      /beyond the first hop/,
    ],
    [
      "no probe targets",
      link(0, { check: { targets: [] } }),
      "links[0].check.targets",
      /at least one address/,
    ],
    [
      "bad duration",
      link(0, { check: { targets: ["198.51.100.1"], interval: "fast" } }),
      "links[0].check.interval",
      /number with a unit/,
    ],
    [
      "bare number duration",
      link(0, { check: { targets: ["198.51.100.1"], timeout: "10" } }),
      "links[0].check.timeout",
      /number with a unit/,
    ],
    ["srcNat not an address", link(0, { nat: { srcNat: "me" } }), "links[0].nat.srcNat", /IPv4 address/],
  ])("%s", (_what, input, property, reason) => {
    const f = failures(input);
    expect(Object.keys(f)).toContain(property);
    expect(f[property]).toMatch(reason);
  });

  test("every failure shows the offending value; secrets are masked", () => {
    expect(failures(link(0, { weight: 0 }))["links[0].weight"]).toMatch(/ \(value: 0\)$/);
    expect(failures(link(0, { gateway: "isp.example" }))["links[0].gateway"]).toMatch(
      / \(value: "isp.example"\)$/,
    );
    const long = "x".repeat(200);
    expect(failures(link(0, { name: long }))["links[0].name"]).toMatch(/ \(value: "x{76}\.\.\.\)$/);
    const key = seedNthSticky({
      target: { linux: { host: "gw", hostKey: "SHA256:x", privateKey: 42 as unknown as string } },
      strategy: "pcc",
      sticky: false,
    });
    const f = failures(key)["target.linux.privateKey"];
    expect(f).toMatch(/\(value: \[secret\]\)$/);
    expect(f).not.toContain("42");
  });

  test("fewer than two links, or more than sixteen", () => {
    expect(failures(seedNthSticky({ links: [seedNthSticky().links[0]] })).links).toMatch(
      /at least two uplinks/,
    );
    const many = Array.from({ length: 17 }, (_, i) => ({
      name: `l${i}`,
      interface: `e${i}`,
      gateway: `10.0.${i}.1`,
      check: { targets: [`198.51.100.${i + 1}`] },
    }));
    expect(failures(seedNthSticky({ links: many })).links).toMatch(/at most 16/);
  });

  test("cross-field rules", () => {
    expect(
      failures(seedNthSticky({ pins: [{ destination: "8.8.8.8", link: "nope" }] }))["pins[0].link"],
    ).toMatch(/unknown link "nope"/);
    expect(failures(seedEcmp({ sticky: { timeout: "1d" } })).sticky).toMatch(/nth only/);
    expect(failures(seedNthSticky({ strategy: "pcc", sticky: { timeout: "1h" } })).sticky).toMatch(
      /nth only/,
    );
    expect(failures(seedNthSticky({ hash: "src-address" })).hash).toMatch(/pcc only/);
    expect(failures(seedNthSticky({ routerTraffic: "lte" })).routerTraffic).toMatch(/names no link/);
    expect(
      failures(seedNthSticky({ lan: { interfaces: ["wlan1"], networks: ["192.168.0.0/24"] } }))[
        "links[0].interface"
      ],
    ).toMatch(/also a LAN interface/);
    const weighted = seedEcmp();
    (weighted.links as Array<Record<string, unknown>>)[0].weight = 3;
    expect(failures(weighted).strategy).toMatch(/cannot weight/);
  });

  test("unknown arguments and a missing or double target are rejected", () => {
    expect(failures({ ...seedNthSticky(), stickiness: true })["(arguments)"]).toMatch(
      /unknown argument\(s\): stickiness/,
    );
    expect(failures(seedNthSticky({ target: {} })).target).toMatch(/exactly one of/);
    const tls = seedNthSticky({ target: { routeros: { host: "r1", username: "a", password: "", tls: {} } } });
    expect(failures(tls)["target.routeros.tls"]).toMatch(/CA certificate .* or an explicit tls.insecure/);
  });

  test("RouterOS credentials must be Windows-1252 text (what the API client sends); the reason never shows them", () => {
    const target = (username: string, password: string) =>
      seedNthSticky({ target: { routeros: { host: "r1", username, password } } });
    expect(parseSpec(target("bjørn", "pässwörd€ “quoted” ÿ")).ok).toBe(true);
    for (const [username, password, property] of [
      ["admin", "p\u{1F600}", "target.routeros.password"],
      ["admin", "пароль", "target.routeros.password"],
      ["admin", "p\u0081", "target.routeros.password"], // a C1 control: no win1252 byte
      ["admin", "p\uFFFD", "target.routeros.password"],
      ["\u7BA1\u7406", "s3cret", "target.routeros.username"],
    ]) {
      const f = failures(target(username, password));
      expect(Object.keys(f)).toEqual([property]);
      expect(f[property]).toMatch(
        /has a character outside Windows-1252 .*\(ASCII is safest\) \(value: \[secret\]\)$/,
      );
      const secret = property.endsWith("password") ? password : username;
      expect(f[property]).not.toContain(secret.slice(1));
    }
  });

  test("a missing value is required; a value of the wrong type says what it should be", () => {
    const { lan: _lan, ...noLan } = seedNthSticky();
    expect(failures(noLan).lan).toBe("is required (expected object)");
    expect(failures({ ...seedNthSticky(), links: "wan1,wan2" }).links).toBe(
      'must be a list (got a string) (value: "wan1,wan2")',
    );
  });

  test("owner must be safe to prefix device names", () => {
    expect(failures(seedNthSticky({ owner: "my-gw" })).owner).toMatch(/letters, digits or underscores/);
  });

  test("too many slots", () => {
    const s = seedNthSticky();
    (s.links as Array<Record<string, unknown>>)[0].weight = 97;
    (s.links as Array<Record<string, unknown>>)[1].weight = 2;
    expect(failures(s).links).toMatch(/reduce to 99 slots/);
  });
});

describe("plan", () => {
  const plan = (input: unknown) => {
    const r = parseSpec(input);
    if (!r.ok) throw new Error(JSON.stringify(r.failures));
    return buildPlan(r.spec);
  };

  test("weights become a gcd-reduced, interleaved slot table", () => {
    expect(interleave(["a", "b"], [3, 1])).toEqual(["a", "a", "b", "a"]);
    expect(interleave(["a", "b", "c"], [2, 1, 1])).toEqual(["a", "b", "c", "a"]);
    const s = seedNthSticky();
    (s.links as Array<Record<string, unknown>>)[0].weight = 6;
    (s.links as Array<Record<string, unknown>>)[1].weight = 2;
    expect(plan(s).slots).toEqual(["wlan1", "wlan1", "wlan2", "wlan1"]);
  });

  test("backup tiers get no slots and come last in every fallback order", () => {
    const s = seedNthSticky({ links: [...seedNthSticky().links, { ...thirdLink, tier: 2 }] });
    const p = plan(s);
    expect(p.primary).toEqual(["wlan1", "wlan2"]);
    expect(p.slots).toEqual(["wlan1", "wlan2"]);
    expect(p.links.find((l) => l.name === "wlan1")?.fallback).toEqual(["wlan2", "lte"]);
    expect(p.links.find((l) => l.name === "lte")?.fallback).toEqual(["wlan1", "wlan2"]);
  });

  test("direct destinations: LAN, bypass and every uplink gateway", () => {
    const p = plan(seedNthSticky({ bypass: ["10.0.0.0/8"] }));
    expect(p.direct).toEqual(["192.168.0.0/24", "10.0.0.0/8", "10.112.0.1/32", "10.111.0.1/32"]);
    expect(p.routerTraffic).toBe("wlan1");
    expect(p.sticky).toEqual({ timeoutMs: 86_400_000 });
  });
});
