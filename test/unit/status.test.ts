/**
 * Link status as data: the `linkStatus` output is never compared by diff (an uplink going down or its
 * connection count changing is not a configuration change), check() drops it from the inputs, and the
 * Linux status script's output is parsed into per-link state; the table shows every link.
 */
import { check, diff } from "../../provider/index";
import { formatStatus, type GatewayStatus } from "../../provider/common/status";
import { parseLinuxStatus, statusTargets } from "../../provider/linux/status";
import { buildPlan } from "../../provider/plan/plan";
import { parseSpec } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";

const live = (up: boolean, connections: number) => ({
  wlan1: { interface: "wlan1", up, since: "2026-12-07T20:00:00.000Z", lastProbe: up ? "ok" : "failed", connections, stickyUsers: 3, source: "netwatch", readAt: "2026-12-07T20:01:00.000Z" },
  wlan2: { interface: "wlan2", up: true, since: null, lastProbe: "ok", connections: 7, stickyUsers: 2, source: "netwatch", readAt: "2026-12-07T20:01:00.000Z" },
}); // prettier-ignore

describe("linkStatus is status, not configuration", () => {
  /** What check() returns for a Linux gateway (rendered on the Linux backend: no device contacted). */
  let inputs: Record<string, unknown>;
  beforeAll(async () => {
    jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    const spec = {
      ...seedNthSticky(),
      target: { linux: { host: "gw", hostKey: "SHA256:x", password: "p" } },
    };
    inputs = (await check({}, spec as unknown as Record<string, unknown>)).inputs;
    expect(Object.keys(inputs.rules as object).length).toBeGreaterThan(10);
  });
  afterAll(() => jest.restoreAllMocks());

  test("a refreshed state with linkStatus against the program's inputs: no changes", async () => {
    const refreshed = { ...inputs, instance: "0123456789ab", linkStatus: live(true, 5) };
    expect(await diff("gw", refreshed, inputs)).toMatchObject({ changes: false, replaces: [] });
  });

  test("a link going down and counts changing between two states: no changes", async () => {
    const olds = { ...inputs, linkStatus: live(true, 5) };
    const news = { ...inputs, linkStatus: live(false, 0) };
    expect((await diff("gw", olds, news)).changes).toBe(false);
  });

  test("control: a changed rule is still a change (the comparison is not switched off)", async () => {
    const rules = { ...(inputs.rules as Record<string, string>) };
    const first = Object.keys(rules)[0];
    rules[first] = `${rules[first]} disabled=yes`;
    const olds = { ...inputs, linkStatus: live(true, 5) };
    expect((await diff("gw", olds, { ...inputs, rules })).changes).toBe(true);
  });

  test("check() drops a linkStatus that came back with the inputs", async () => {
    const again = await check(inputs, { ...inputs, linkStatus: live(false, 1) });
    expect(again.failures).toEqual([]);
    expect(again.inputs).not.toHaveProperty("linkStatus");
    expect(again.inputs.rules).toEqual(inputs.rules);
  });
});

describe("Linux status script output", () => {
  const r = parseSpec({
    ...seedNthSticky(),
    target: { linux: { host: "gw", hostKey: "SHA256:x", password: "p" } },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  const plan = buildPlan(r.spec);
  const marks = plan.links.map((l) => 0x100 + l.index);

  test("per link: state, since and last probe from the status file; counts per ct mark; sticky per mark", () => {
    const out = [
      "@@lbgw now",
      "1765138000",
      "@@lbgw status",
      "wlan1 0 1765137900 0",
      "wlan2 1 1765137000 1",
      "@@lbgw state",
      "wlan1 0",
      "wlan2 1",
      "hash 0123456789abcdef",
      "@@lbgw prober",
      "running yes",
      "table yes",
      "@@lbgw ct",
      `${marks[0]} 4`,
      `${marks[1]} 11`,
      "@@lbgw sticky",
      JSON.stringify({
        nftables: [
          { metainfo: {} },
          {
            map: {
              name: "sticky",
              elem: [
                [{ elem: { val: "192.168.0.10" } }, marks[1]],
                ["192.168.0.11", marks[1]],
              ],
            },
          },
        ],
      }),
    ].join("\n");
    const s = parseLinuxStatus(plan, "linux://gw:22", out);
    expect(s.readAt).toBe(new Date(1765138000 * 1000).toISOString());
    expect(s.notes).toEqual([]);
    expect(s.links).toEqual([
      { link: "wlan1", interface: "wlan1", up: false, since: new Date(1765137900_000).toISOString(), lastProbe: "failed", connections: 4, stickyUsers: 0, source: "prober" },
      { link: "wlan2", interface: "wlan2", up: true, since: new Date(1765137000_000).toISOString(), lastProbe: "ok", connections: 11, stickyUsers: 2, source: "prober" },
    ]); // prettier-ignore
  });

  test("an older prober (state file only), no conntrack, prober stopped: said, not guessed", () => {
    const out = "@@lbgw state\nwlan1 1\n@@lbgw prober\nrunning no\ntable yes\n@@lbgw ct\nunavailable\n";
    const s = parseLinuxStatus(plan, "linux://gw:22", out);
    expect(s.links[0]).toMatchObject({ up: true, since: null, lastProbe: null, connections: null });
    expect(s.links[1]).toMatchObject({ up: null });
    expect(s.notes.join("\n")).toMatch(/prober is not running/);
    expect(s.notes.join("\n")).toMatch(/connections not counted/);
    expect(s.links[0].stickyUsers).toBeNull();
    expect(s.notes.join("\n")).toMatch(/sticky map could not be read/);
  });

  test("the script's targets section: every check target once", () => {
    expect(statusTargets(plan)).toBe("198.51.100.1\n198.51.100.2\n");
  });
});

test("the table: one row per link with state, since, last probe, connections and sticky users", () => {
  const s: GatewayStatus = {
    device: "linux://gw:22",
    owner: "office",
    readAt: "2026-12-07T20:01:00.000Z",
    notes: [],
    links: [
      { link: "fiber", interface: "wan1", up: false, since: "2026-12-07T20:00:30.000Z", lastProbe: "failed", connections: 3, stickyUsers: 0, source: "prober" },
      { link: "lte", interface: "wan2", up: true, since: "2026-12-07T18:00:00.000Z", lastProbe: "ok", connections: 12, stickyUsers: 5, source: "prober" },
    ], // prettier-ignore
  };
  const table = formatStatus(s);
  expect(table).toMatch(/^fiber\s+wan1\s+DOWN\s+2026-12-07T20:00:30Z \(30s ago\)\s+failed\s+3\s+0$/m);
  expect(table).toMatch(/^lte\s+wan2\s+up\s+2026-12-07T18:00:00Z \(2h1m ago\)\s+ok\s+12\s+5$/m);
});
