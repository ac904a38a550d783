/**
 * The generic reconciler on hand-made device states (the simulator suites prove the same end to end).
 */
import { buildPlan } from "../../provider/plan/plan";
import { parseSpec } from "../../provider/spec/schema";
import type { SpecInput } from "../../provider/spec/schema";
import type { RosVersion } from "../../provider/routeros/menus";
import { MENUS, clearWith, normalise } from "../../provider/routeros/menus";
import type { Op, PrintedEntry } from "../../provider/routeros/reconcile";
import { reconcile } from "../../provider/routeros/reconcile";
import type { DesiredState } from "../../provider/routeros/render";
import { renderRouterOs } from "../../provider/routeros/render";
import { actualLines, desiredLines } from "../../provider/routeros/script";
import { seedNthSticky } from "../fixtures/specs";

function desired(input: SpecInput, version: RosVersion = 7): DesiredState {
  const r = parseSpec(input);
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  return renderRouterOs(buildPlan(r.spec), version);
}

let nextId = 0x100;
/** The desired state as a v7 router prints it after applying it (ids, print-form values). */
function printed(state: DesiredState, version: RosVersion = 7): Record<string, PrintedEntry[]> {
  const out: Record<string, PrintedEntry[]> = {};
  for (const [menu, entries] of Object.entries(state))
    out[menu] = entries.map((e) => {
      const p: PrintedEntry = { ".id": `*${(nextId++).toString(16).toUpperCase()}` };
      for (const [k, v] of Object.entries(e.attrs)) {
        const name = version === 6 && k === "routing-table" ? "routing-mark" : k;
        p[name] =
          v === "yes"
            ? "true"
            : v === "no"
              ? "false"
              : menu === "/ip/firewall/address-list" && k === "address"
                ? v.replace(/\/32$/, "")
                : v;
      }
      return p;
    });
  return out;
}

const ops = (batches: Op[][]) => batches.flat();
const foreign = (id: string, chain = "forward"): PrintedEntry => ({
  ".id": id,
  chain,
  action: "accept",
  comment: "mine",
});

describe("reconcile", () => {
  test("create on an empty device: tables and routes before the marks that use them", () => {
    const r = reconcile({ owner: "gw", version: 7, desired: desired(seedNthSticky()), actual: {} });
    const batchOf = (menu: string) =>
      r.batches.findIndex((b) => b.some((o) => o.menu === menu && o.op === "add"));
    expect(batchOf("/routing/table")).toBeLessThan(batchOf("/ip/route"));
    expect(batchOf("/ip/route")).toBeLessThan(batchOf("/ip/firewall/mangle"));
    expect(batchOf("/interface/list")).toBeLessThan(batchOf("/interface/list/member"));
    const adds = ops(r.batches).filter((o) => o.op === "add");
    expect(adds).toHaveLength(Object.values(desired(seedNthSticky())).flat().length);
    expect(r.batches).toHaveLength(4);
  });

  test.each([6, 7] as const)("no-op on v%i: a converged device needs zero writes, and lines match", (v) => {
    const want = desired(
      seedNthSticky({ target: { routeros: { host: "r", username: "a", password: "", version: v } } }),
      v,
    );
    const have = printed(want, v);
    const r = reconcile({ owner: "gw", version: v, desired: want, actual: have });
    expect(r.batches).toEqual([]);
    expect(actualLines("gw", have, v)).toEqual(desiredLines(want, v));
  });

  test("a weight change touches only the classifier rules (and places the new one)", () => {
    const have = printed(desired(seedNthSticky()));
    const s = seedNthSticky();
    (s.links as Array<Record<string, unknown>>)[0].weight = 2;
    const r = reconcile({ owner: "gw", version: 7, desired: desired(s), actual: have });
    const touched = ops(r.batches).map((o) => ("key" in o ? `${o.op} ${o.key}` : o.op));
    // and the spec record, which holds the weights
    expect(touched.sort()).toEqual([
      "add classify:3",
      "move",
      "set classify:1",
      "set classify:2",
      "set spec",
    ]);
    const route1 = have["/ip/firewall/mangle"].find((e) => e.comment === "lbgw:gw:route:wlan1");
    expect(ops(r.batches).find((o) => o.op === "move")).toEqual({
      op: "move",
      menu: "/ip/firewall/mangle",
      entries: [{ key: "classify:3" }],
      destination: route1?.[".id"],
    });
  });

  test("create: one pipelined batch per phase, then one move per ordered menu", () => {
    const want = desired(seedNthSticky());
    const r = reconcile({
      owner: "gw",
      version: 7,
      desired: want,
      actual: {
        "/ip/firewall/mangle": [foreign("*1"), foreign("*2")],
        "/ip/firewall/nat": [foreign("*3", "srcnat")],
      },
    });
    expect(r.batches.map((b) => [...new Set(b.map((o) => `${o.op} ${o.menu}`))].sort())).toEqual([
      [
        "add /interface/list",
        "add /ip/firewall/address-list",
        "add /ip/firewall/nat",
        "add /routing/table",
        "add /system/script",
      ],
      ["add /interface/list/member", "add /ip/route"],
      ["add /ip/firewall/mangle", "add /tool/netwatch"],
      ["move /ip/firewall/mangle", "move /ip/firewall/nat"],
    ]);
    const moves = (r.batches[3] as Array<Extract<Op, { op: "move" }>>).sort((a, b) =>
      a.menu.localeCompare(b.menu),
    );
    // the mangle block goes on top, in order; the nat block to the bottom, after the foreign rule
    expect(moves[0]).toEqual({
      op: "move",
      menu: "/ip/firewall/mangle",
      entries: want["/ip/firewall/mangle"].map((d) => ({ key: d.key })),
      destination: "*1",
    });
    expect(moves[1]).toEqual({
      op: "move",
      menu: "/ip/firewall/nat",
      entries: want["/ip/firewall/nat"].map((d) => ({ key: d.key })),
    });
  });

  test("a foreign rule inserted inside the block: owned entries move, foreign ones never", () => {
    const want = desired(seedNthSticky());
    const have = printed(want);
    const mangle = have["/ip/firewall/mangle"];
    mangle.splice(3, 0, foreign("*F1"));
    const r = reconcile({ owner: "gw", version: 7, desired: want, actual: have });
    const moves = ops(r.batches).filter((o): o is Extract<Op, { op: "move" }> => o.op === "move");
    expect(moves).toHaveLength(1);
    // one command: the owned entries below the intruder go back above it; the block stays on top
    expect(moves[0].entries).toEqual(mangle.slice(4).map((e) => ({ id: e[".id"] })));
    expect(moves[0].destination).toBe("*F1");
  });

  test("duplicates and entries no longer wanted are removed, marks before routes, in one command per menu", () => {
    const want = desired(seedNthSticky());
    const have = printed(want);
    have["/ip/firewall/mangle"].push({ ...have["/ip/firewall/mangle"][0], ".id": "*DUP" });
    have["/ip/route"].push({
      ".id": "*OLD",
      "dst-address": "0.0.0.0/0",
      gateway: "1.2.3.4",
      comment: "lbgw:gw:route:gone:x:0",
    });
    const r = reconcile({ owner: "gw", version: 7, desired: want, actual: have });
    expect(r.batches).toEqual([
      [{ op: "remove", menu: "/ip/firewall/mangle", ids: ["*DUP"], keys: ["inbound:wlan1"] }],
      [{ op: "remove", menu: "/ip/route", ids: ["*OLD"], keys: ["route:gone:x:0"] }],
    ]);
  });

  test("a property changed or added by hand is set back or unset; other owners are left alone", () => {
    const want = desired(seedNthSticky());
    const have = printed(want);
    const rule = have["/ip/firewall/mangle"][0];
    rule["in-interface"] = "ether9";
    rule["src-address"] = "10.9.9.9";
    rule["log"] = "true"; // not managed: never compared
    have["/ip/firewall/mangle"].push({ ".id": "*X", chain: "forward", comment: "lbgw:other:inbound:wlan1" });
    const r = reconcile({ owner: "gw", version: 7, desired: want, actual: have });
    // src-address is not a managed property either: it is invisible to this resource
    expect(ops(r.batches)).toEqual([
      {
        op: "set",
        menu: "/ip/firewall/mangle",
        key: "inbound:wlan1",
        id: rule[".id"],
        attrs: { "in-interface": "wlan1" },
      },
    ]);
    rule["dst-address"] = "10.9.9.9";
    const r2 = reconcile({ owner: "gw", version: 7, desired: want, actual: have });
    expect(ops(r2.batches)).toContainEqual({
      op: "unset",
      menu: "/ip/firewall/mangle",
      key: "inbound:wlan1",
      id: rule[".id"],
      prop: "dst-address",
    });
  });

  test("a hand-disabled owned entry is re-enabled with `enable`, never `unset value-name=disabled`", () => {
    const want = desired(seedNthSticky());
    const have = printed(want);
    const rule = have["/ip/firewall/mangle"][2];
    const listed = have["/ip/firewall/address-list"][0];
    const member = have["/interface/list/member"][0];
    for (const e of [rule, listed, member]) e.disabled = "true";
    const r = reconcile({ owner: "gw", version: 7, desired: want, actual: have });
    expect(ops(r.batches).sort((a, b) => a.menu.localeCompare(b.menu))).toEqual(
      [
        { menu: "/interface/list/member", e: member },
        { menu: "/ip/firewall/address-list", e: listed },
        { menu: "/ip/firewall/mangle", e: rule },
      ].map(({ menu, e }) => ({
        op: "enable",
        menu,
        key: (e.comment ?? "").slice("lbgw:gw:".length),
        id: e[".id"],
      })),
    );
  });

  test("a timeout given to an owned address-list entry by hand: removed, then added again, nothing unset", () => {
    const want = desired(seedNthSticky());
    const have = printed(want);
    const listed = have["/ip/firewall/address-list"][1];
    listed.timeout = "1h";
    listed.dynamic = "true"; // how RouterOS 6 and the simulator print an entry with a timeout
    listed.disabled = "true";
    const r = reconcile({ owner: "gw", version: 7, desired: want, actual: have });
    const key = (listed.comment ?? "").slice("lbgw:gw:".length);
    // the removal goes first (list + address is unique), in a batch of its own
    expect(r.batches).toEqual([
      [{ op: "remove", menu: "/ip/firewall/address-list", ids: [listed[".id"]], keys: [key] }],
      [
        {
          op: "add",
          menu: "/ip/firewall/address-list",
          key,
          attrs: want["/ip/firewall/address-list"].find((d) => d.key === key)?.attrs,
        },
      ],
    ]);
  });

  test("a re-added mangle rule goes back to its place in the owned block", () => {
    const want = desired(seedNthSticky());
    const have = printed(want);
    const mangle = have["/ip/firewall/mangle"];
    mangle.unshift(foreign("*F0"));
    const rule = mangle[3];
    rule["address-list-timeout"] = "1h"; // mangle's unset does not offer it
    const key = (rule.comment ?? "").slice("lbgw:gw:".length);
    const r = reconcile({ owner: "gw", version: 7, desired: want, actual: have });
    expect(r.batches.map((b) => b.map((o) => `${o.op} ${"key" in o ? o.key : ""}`))).toEqual([
      [`remove `],
      [`add ${key}`],
      [`move `],
    ]);
    expect(ops(r.batches).find((o) => o.op === "move")).toEqual({
      op: "move",
      menu: "/ip/firewall/mangle",
      entries: [{ key }],
      destination: mangle[4][".id"],
    });
  });

  test("properties are cleared the way their menu allows: unset, set to what prints as unset", () => {
    const want = desired(seedNthSticky());
    const have = printed(want);
    const probe = have["/ip/route"].find((e) => e.comment?.startsWith("lbgw:gw:probe:")) as PrintedEntry;
    probe.distance = "7";
    probe["routing-table"] = "lbgw-gw-wlan1";
    const r = reconcile({ owner: "gw", version: 7, desired: want, actual: have });
    const key = (probe.comment ?? "").slice("lbgw:gw:".length);
    expect(ops(r.batches)).toEqual([
      { op: "set", menu: "/ip/route", key, id: probe[".id"], attrs: { "routing-table": "main" } },
      { op: "unset", menu: "/ip/route", key, id: probe[".id"], prop: "distance" },
    ]);
    // v6 names the table with routing-mark and has no known way to clear it: the route is re-added
    const want6 = desired(
      seedNthSticky({ target: { routeros: { host: "r", username: "a", password: "", version: 6 } } }),
      6,
    );
    const have6 = printed(want6, 6);
    const probe6 = have6["/ip/route"].find((e) => e.comment?.startsWith("lbgw:gw:probe:")) as PrintedEntry;
    probe6["routing-mark"] = "x";
    const r6 = reconcile({ owner: "gw", version: 6, desired: want6, actual: have6 });
    expect(ops(r6.batches).map((o) => o.op)).toEqual(["remove", "add"]);
  });

  test("every `set` clear is what print shows for an unset property (or updates would never converge)", () => {
    for (const m of MENUS)
      for (const v of m.versions)
        for (const prop of Object.keys(m.props)) {
          const how = clearWith(m, v, prop);
          if (typeof how === "object")
            expect([m.path, prop, normalise(m.props[prop], how.set)]).toEqual([
              m.path,
              prop,
              m.unsetLooksLike[prop],
            ]);
        }
  });

  test("delete: every owned entry goes, marks before routes before tables", () => {
    const have = printed(desired(seedNthSticky()));
    have["/ip/firewall/mangle"].unshift(foreign("*F"));
    const r = reconcile({ owner: "gw", version: 7, desired: {}, actual: have });
    expect(r.batches.map((b) => b.map((o) => o.menu).sort())).toEqual([
      ["/ip/firewall/mangle", "/tool/netwatch"],
      ["/interface/list/member", "/ip/route"],
      [
        "/interface/list",
        "/ip/firewall/address-list",
        "/ip/firewall/nat",
        "/routing/table",
        "/system/script",
      ],
    ]);
    expect(ops(r.batches).flatMap((o) => (o.op === "remove" ? o.ids : []))).not.toContain("*F");
  });
});
