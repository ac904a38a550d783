/**
 * The simulator's netwatch: the menu accepts only what the version has, and the script interpreter runs
 * the scripts the provider writes (provider/routeros/netwatch.ts) with netwatch's policy and refuses what a
 * router's script would fail on.
 */
import { buildPlan } from "../../provider/plan/plan";
import { netwatchEntries, testScript } from "../../provider/routeros/netwatch";
import { parseSpec } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";
import { startRouterOsSim } from "../../labs/routeros-sim";
import { NETWATCH_POLICY, runScript, type ScriptHost } from "../../labs/routeros-sim/packet-path/script";

const parsed = parseSpec(seedNthSticky());
if (!parsed.ok) throw new Error("fixture");
const plan = buildPlan(parsed.spec);
const wlan1 = plan.links[0];

function host(status: () => string): ScriptHost & { writes: string[] } {
  const writes: string[] = [];
  const routes = [
    { ".id": "*1", comment: "lbgw:gw:route:wlan1:wlan1:0", disabled: "false" },
    { ".id": "*2", comment: "lbgw:gw:route:main:wlan1:0", disabled: "false" },
    { ".id": "*3", comment: "lbgw:gw:route:wlan1:wlan2:0", disabled: "false" },
    { ".id": "*4", comment: "operator: wlan1:0", disabled: "false" },
  ];
  return {
    writes,
    globals: new Map(),
    rows: (menu) =>
      menu === "/ip/route" ? routes : [{ ".id": "*9", comment: "lbgw:gw:watch:wlan1:0", status: status() }],
    command: (menu, verb, ids) => {
      for (const id of ids) {
        writes.push(`${menu} ${verb} ${id}`);
        const r = routes.find((x) => x[".id"] === id);
        if (r) r.disabled = verb === "disable" ? "true" : "false";
      }
    },
  };
}

describe("netwatch test-script (RouterOS 7)", () => {
  test("failAfter failed rounds in a row disable the link's routes for that target only; recoverAfter good rounds enable them", () => {
    let status = "up";
    const h = host(() => status);
    const round = (s: string) => {
      status = s;
      runScript(testScript("gw", wlan1, 0), h, NETWATCH_POLICY);
    };
    round("up");
    round("down");
    round("down");
    round("up"); // the streak restarts
    round("down");
    round("down");
    expect(h.writes).toEqual([]);
    round("down");
    expect(h.writes).toEqual(["/ip/route disable *1", "/ip/route disable *2"]);
    for (let i = 0; i < 9; i++) round("up");
    round("down"); // a failure restarts the good streak
    for (let i = 0; i < 9; i++) round("up");
    expect(h.writes).toHaveLength(2);
    round("up");
    expect(h.writes.slice(2)).toEqual(["/ip/route enable *1", "/ip/route enable *2"]);
    round("up");
    expect(h.writes).toHaveLength(4);
  });

  test("a route re-added enabled while the link is down is disabled again at the next round", () => {
    let status = "down";
    const h = host(() => status);
    for (let i = 0; i < 3; i++) runScript(testScript("gw", wlan1, 0), h, NETWATCH_POLICY);
    const routes = h.rows("/ip/route") as Array<Record<string, string>>;
    routes[0].disabled = "false";
    runScript(testScript("gw", wlan1, 0), h, NETWATCH_POLICY);
    expect(h.writes.slice(-1)).toEqual(["/ip/route disable *1"]);
    status = "up";
  });

  test("a script is refused what its policy or the model does not allow", () => {
    const h = host(() => "up");
    expect(() => runScript("/ip route disable [find]", h, new Set(["read"]))).toThrow(
      "/ip/route disable needs the write policy",
    );
    expect(() => runScript("/system reboot", h, NETWATCH_POLICY)).toThrow("not modelled");
    expect(() => runScript('/ip route disable [find comment="$x"]', h, NETWATCH_POLICY)).toThrow(
      "variables inside strings",
    );
    expect(() => runScript(":set undeclared 1", h, NETWATCH_POLICY)).toThrow("not declared");
  });
});

describe("forgetting a down link's sticky users (RouterOS 6 and 7)", () => {
  const LIST = "lbgw-gw-sticky-wlan1";
  /** Routes of wlan1 (one per target), address-list rows; records writes. */
  function world(targets: number) {
    const writes: string[] = [];
    const routes = Array.from({ length: targets }, (_, j) => ({
      ".id": `*${j + 1}`,
      comment: `lbgw:gw:route:wlan1:wlan1:${j}`,
      disabled: "false",
    }));
    let lists = [
      { ".id": "*A", list: LIST, address: "192.168.0.10", dynamic: "true" },
      { ".id": "*B", list: LIST, address: "192.168.0.11", dynamic: "false" },
      { ".id": "*C", list: "lbgw-gw-sticky-wlan2", address: "192.168.0.12", dynamic: "true" },
    ];
    const status = new Map<string, string>();
    const h: ScriptHost = {
      globals: new Map(),
      rows: (menu) =>
        menu === "/ip/route"
          ? routes
          : menu === "/ip/firewall/address-list"
            ? lists
            : [...status].map(([comment, st], i) => ({ ".id": `*9${i}`, comment, status: st })),
      command: (menu, verb, ids) => {
        for (const id of ids) {
          writes.push(`${menu} ${verb} ${id}`);
          if (verb === "remove") lists = lists.filter((r) => r[".id"] !== id);
          const r = routes.find((x) => x[".id"] === id);
          if (r) r.disabled = verb === "disable" ? "true" : "false";
        }
      },
    };
    return { h, writes, status, lists: () => lists.map((r) => r[".id"]) };
  }

  test("RouterOS 7: the round that takes the link down removes its list's dynamic entries, once", () => {
    const w = world(1);
    const script = testScript("gw", wlan1, 0, LIST);
    const round = (st: string) => {
      w.status.set("lbgw:gw:watch:wlan1:0", st);
      runScript(script, w.h, NETWATCH_POLICY);
    };
    round("up");
    round("down");
    round("down");
    expect(w.lists()).toEqual(["*A", "*B", "*C"]);
    round("down");
    expect(w.writes).toEqual(["/ip/route disable *1", "/ip/firewall/address-list remove *A"]);
    round("down"); // still down: nothing more
    for (let i = 0; i < 10; i++) round("up");
    expect(w.writes.slice(2)).toEqual(["/ip/route enable *1"]);
    expect(w.lists()).toEqual(["*B", "*C"]);
  });

  test("RouterOS 7, a link with two targets: only when its last route goes", () => {
    const link = { ...wlan1, check: { ...wlan1.check, targets: ["198.51.100.1", "198.51.100.11"] } };
    const w = world(2);
    const round = (j: number) => {
      w.status.set(`lbgw:gw:watch:wlan1:${j}`, "down");
      runScript(testScript("gw", link, j, LIST), w.h, NETWATCH_POLICY);
    };
    for (let i = 0; i < 3; i++) round(0);
    expect(w.writes).toEqual(["/ip/route disable *1"]);
    for (let i = 0; i < 3; i++) round(1);
    expect(w.writes).toEqual([
      "/ip/route disable *1",
      "/ip/route disable *2",
      "/ip/firewall/address-list remove *A",
    ]);
  });

  test("RouterOS 6: the down-script does it", () => {
    const r = parseSpec(seedNthSticky({ sticky: { timeout: "1m" } }));
    if (!r.ok) throw new Error("fixture");
    const watch = netwatchEntries(buildPlan(r.spec), 6)[0];
    expect(watch.attrs["down-script"]).toContain(
      `/ip firewall address-list remove [find list="${LIST}" dynamic=yes]`,
    );
    const w = world(1);
    runScript(watch.attrs["down-script"], w.h, NETWATCH_POLICY);
    expect(w.writes).toEqual(["/ip/route disable *1", "/ip/firewall/address-list remove *A"]);
    // without sticky, no address list is touched
    const plain = parseSpec(seedNthSticky({ sticky: false }));
    if (!plain.ok) throw new Error("fixture");
    expect(netwatchEntries(buildPlan(plain.spec), 6)[0].attrs["down-script"]).not.toContain("address-list");
    expect(netwatchEntries(buildPlan(plain.spec), 7)[0].attrs["test-script"]).not.toContain("address-list");
  });

  test("the interpreter refuses what the provider does not write", () => {
    const { h } = world(1);
    expect(() => runScript("/ip route remove [find]", h, NETWATCH_POLICY)).toThrow("not modelled");
    expect(() =>
      runScript("/ip firewall address-list add list=x address=1.2.3.4", h, NETWATCH_POLICY),
    ).toThrow("not modelled");
    expect(() =>
      runScript("/ip firewall address-list remove [find dynamic=maybe]", h, NETWATCH_POLICY),
    ).toThrow("not a yes/no value");
    expect(() => runScript("/ip firewall address-list remove [find]", h, new Set(["read"]))).toThrow(
      "needs the write policy",
    );
  });
});

describe("the simulator's /tool/netwatch follows the version", () => {
  test.each([
    ["6.49.10", { type: "icmp" }],
    ["6.49.10", { "test-script": ":log info x" }],
    ["7.10.2", { "src-address": "10.112.0.2" }],
  ])("RouterOS %s refuses %j", async (version, attrs) => {
    const sim = await startRouterOsSim({ version, username: "admin", password: "" });
    try {
      expect(() => sim.edit.add("/tool/netwatch", { host: "198.51.100.1", ...attrs })).toThrow(
        "unknown parameter",
      );
    } finally {
      await sim.close();
    }
  });

  test("RouterOS 7.16.2 takes the provider's icmp probe", async () => {
    const sim = await startRouterOsSim({ version: "7.16.2", username: "admin", password: "" });
    try {
      const id = sim.edit.add("/tool/netwatch", {
        host: "198.51.100.1",
        type: "icmp",
        interval: "300ms",
        timeout: "300ms",
        "packet-count": "1",
        "thr-avg": "300ms",
        "thr-max": "300ms",
        "src-address": "10.112.0.2",
        "test-script": testScript("gw", wlan1, 0),
      });
      expect(sim.entries("/tool/netwatch").find((e) => e[".id"] === id)).toMatchObject({
        interval: "300ms",
        "thr-max": "300ms",
        "packet-count": "1",
      });
    } finally {
      await sim.close();
    }
  });
});
