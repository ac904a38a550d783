/**
 * A probe target shared by several links: accepted on Linux and RouterOS 7 (each link probes it through
 * itself), refused for RouterOS 6 with the reason and the versions involved, before anything touches a device.
 */
import { parseSpec, type SpecInput } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";

const SHARED = "1.1.1.1";

function sharing(target: SpecInput["target"]): SpecInput {
  const s = seedNthSticky({ target, sticky: false });
  for (const l of s.links as Array<{ check: { targets: string[] } }>) l.check.targets.push(SHARED);
  return s;
}

const linux = { linux: { host: "192.0.2.1", privateKey: "k", hostKey: "SHA256:x" } };
const ros = (version: 6 | 7) => ({ routeros: { host: "192.0.2.1", username: "u", password: "p", version } });

describe("a check target shared by two links", () => {
  test("Linux accepts it", () => {
    expect(parseSpec(sharing(linux))).toMatchObject({ ok: true });
  });

  test("RouterOS 7 accepts it (the router's version is checked at apply: 7.11.3 and later)", () => {
    expect(parseSpec(sharing(ros(7)))).toMatchObject({ ok: true });
  });

  test("RouterOS 6 refuses it, naming the property, the version and why", () => {
    const r = parseSpec(sharing(ros(6)));
    expect(r.ok ? [] : r.failures.map((f) => `${f.property}: ${f.reason}`)).toEqual([
      `links[1].check.targets[1]: check target ${SHARED} is also probed through links[0] (wlan1): RouterOS 6 ` +
        "netwatch cannot choose a probe's source address or routing table, so on RouterOS 6 a target can be " +
        `probed through one link only (RouterOS 7.11.3 and later can) (value: "${SHARED}")`,
    ]);
  });

  test("one link listing a target twice is refused on every backend", () => {
    const s = seedNthSticky({ target: linux, sticky: false });
    (s.links as Array<{ check: { targets: string[] } }>)[0].check.targets.push("198.51.100.1");
    const r = parseSpec(s);
    expect(r.ok ? [] : r.failures.map((f) => `${f.property}: ${f.reason}`)).toEqual([
      'links[0].check.targets[1]: check target 198.51.100.1 appears twice in this link (value: "198.51.100.1")',
    ]);
  });
});
