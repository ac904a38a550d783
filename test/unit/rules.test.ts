/**
 * The `rules` output is keyed by object identity, so the engine's diff of a change names exactly the objects
 * that differ (a list would be compared by position: one inserted rule would shift all the later ones).
 */
import { weightedFailover } from "../../examples/linux-weighted-failover/gateway";
import type { Rules } from "../../provider/common/rules";
import { linuxBackend } from "../../provider/linux/backend";
import { buildPlan } from "../../provider/plan/plan";
import { desiredRouterOsLines, routerOsRules } from "../../provider/routeros/backend";
import type { SpecInput } from "../../provider/spec/schema";
import { parseSpec } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";

function spec(input: SpecInput) {
  const r = parseSpec(input);
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  return r.spec;
}

/** Keys whose value changed, appeared or disappeared. */
function changed(a: Rules, b: Rules): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

const withWeight = (s: SpecInput, w: number): SpecInput => ({
  ...s,
  links: [
    { ...(s.links as object[])[0], weight: w },
    ...(s.links as object[]).slice(1),
  ] as SpecInput["links"],
});

test("RouterOS: a weight change is the changed classifier rules, the new one, the mangle order and the spec record", () => {
  const rules = (s: SpecInput) => routerOsRules(desiredRouterOsLines(buildPlan(spec(s)), 7));
  const before = rules(seedNthSticky());
  expect(Object.keys(before)).toHaveLength(
    desiredRouterOsLines(buildPlan(spec(seedNthSticky())), 7).length + 2,
  );
  expect(changed(before, rules(withWeight(seedNthSticky(), 2)))).toEqual([
    "ip firewall mangle (order)",
    "ip firewall mangle classify:1",
    "ip firewall mangle classify:2",
    "ip firewall mangle classify:3",
    "system script spec",
  ]);
});

test("Linux: a weight change is the slot map (declaration and elements), the rule feeding it, and the prober config", async () => {
  const base = spec({
    owner: "gw",
    target: { linux: { host: "gw", privateKey: "k", hostKey: "SHA256:x" } },
    ...weightedFailover({
      lanInterface: "lan0",
      lanNetwork: "192.168.0.0/24",
      uplinks: [
        { interface: "wan1", gateway: "10.111.0.1", probeTarget: "203.0.113.1" },
        { interface: "wan2", gateway: "10.112.0.1", probeTarget: "203.0.113.2" },
      ] as never,
      sticky: false,
    }),
  });
  const rulesOf = async (s: typeof base) => {
    const b = await linuxBackend(s, buildPlan(s));
    const lines = b.desiredLines();
    const rules = b.keyed(lines);
    expect(Object.keys(rules)).toHaveLength(lines.length);
    return rules;
  };
  const before = await rulesOf(base);
  const even = { ...base, links: base.links.map((l) => ({ ...l, weight: 1 })) };
  const diff = changed(before, await rulesOf(even));
  expect(diff).toContain("nft map slots");
  // besides the slot map and the prober's config: only the rule that feeds the slot map
  const others = diff.filter((k) => !k.startsWith("nft map slots") && k !== "prober");
  expect(others).toHaveLength(1);
  expect(before[others[0]]).toContain("numgen inc mod 4");
  expect(before["ip rule 10101"]).toBe("ip rule pref 10101 fwmark 0x101 lookup 101");
  expect(before["sysctl net.ipv4.ip_forward"]).toBe("sysctl net.ipv4.ip_forward = 1");
});
