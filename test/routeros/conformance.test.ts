/**
 * Conformance with RouterOS itself, not with our own simulator: what the provider writes for v7, and what the
 * simulator accepts, are compared with `/console/inspect` crawls of real RouterOS 7 CHRs (test/routeros/
 * oracle.ts). Menus, commands and argument names are checked in the oldest supported build (MIN_ROUTEROS_7)
 * and the newest crawled one; offered values in the newest crawls that list them (7.21.4 and later).
 */
import { buildPlan } from "../../provider/plan/plan";
import { parseSpec } from "../../provider/spec/schema";
import type { SpecInput } from "../../provider/spec/schema";
import { opWords } from "../../provider/routeros/backend";
import type { MenuSpec as ProductMenu } from "../../provider/routeros/menus";
import { MIN_ROUTEROS_7, clearWith, menusFor, wireName } from "../../provider/routeros/menus";
import type { Op, PrintedEntry } from "../../provider/routeros/reconcile";
import { reconcile } from "../../provider/routeros/reconcile";
import type { DesiredState } from "../../provider/routeros/render";
import { renderRouterOs } from "../../provider/routeros/render";
import { MENUS as SIM_MENUS } from "../../labs/routeros-sim/menus";
import type { MenuSpec as SimMenu } from "../../labs/routeros-sim/menus";
import { inWindow, parseVersion } from "../../labs/routeros-sim/version";
import { seedEcmp, seedNthSticky, thirdLink } from "../fixtures/specs";
import { RouterOsFacts, loadOracle, loadV6Notes } from "./oracle";

let facts: RouterOsFacts;
beforeAll(() => {
  // No skip: without the data this suite fails, saying where it looked.
  facts = new RouterOsFacts(loadOracle());
});

/** Specs that between them render every kind of entry: each strategy and hash, sticky, tiers, src-nat, pins. */
const SPECS: Array<[string, SpecInput]> = [
  ["nth sticky", seedNthSticky()],
  ["ecmp with a pin", seedEcmp()],
  ["pcc", seedNthSticky({ strategy: "pcc", sticky: false, hash: "both-addresses-and-ports" })],
  [
    "weights, a backup tier, src-nat, bypass, no inbound symmetry",
    seedNthSticky({
      links: [
        {
          name: "wlan1",
          interface: "wlan1",
          gateway: "10.112.0.1",
          weight: 3,
          check: { targets: ["198.51.100.1", "198.51.100.11"] },
        },
        {
          name: "wlan2",
          interface: "wlan2",
          gateway: "10.111.0.1",
          nat: { srcNat: "10.111.0.2" },
          check: { targets: ["198.51.100.2"] },
        },
        { ...thirdLink, tier: 2 },
      ],
      pins: [{ destination: "203.0.113.0/24", link: "wlan1" }],
      bypass: ["172.16.0.0/12"],
      inboundSymmetry: false,
      routerTraffic: "wlan2",
    }),
  ],
];

function render(spec: SpecInput): DesiredState {
  const r = parseSpec(spec);
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  return renderRouterOs(buildPlan(r.spec), 7);
}

/** The desired state as a v7 router would print it once applied. */
function asPrinted(state: DesiredState): Record<string, PrintedEntry[]> {
  let id = 0x100;
  return Object.fromEntries(
    Object.entries(state).map(([menu, entries]) => [
      menu,
      entries.map((e) => ({ ".id": `*${(id++).toString(16).toUpperCase()}`, ...e.attrs })),
    ]),
  );
}

/**
 * Every operation the reconciler emits for these specs: creating them on an empty router, putting an owned
 * block back in place, and repairing each managed property changed, or added, by hand.
 */
function reconcilerOps(): Op[] {
  const ops: Op[] = [];
  const run = (desired: DesiredState, actual: Record<string, PrintedEntry[]>) =>
    ops.push(...reconcile({ owner: "gw", version: 7, desired, actual }).batches.flat());
  for (const [, spec] of SPECS) {
    const desired = render(spec);
    run(desired, {});
    const foreign = { ".id": "*F", chain: "forward", action: "accept" };
    run(desired, {
      ...asPrinted(desired),
      "/ip/firewall/mangle": [foreign, ...asPrinted(desired)["/ip/firewall/mangle"].reverse()],
    });
    run({}, asPrinted(desired));
    for (const m of menusFor(7))
      for (const [i, entry] of (desired[m.path] ?? []).entries())
        for (const prop of Object.keys(m.props)) {
          if (prop === "comment") continue;
          const actual = asPrinted(desired);
          const printed = actual[m.path][i];
          // Changed by hand (set back), or given by hand (cleared as the menu allows).
          printed[wireName(m, 7, prop)] = prop in entry.attrs ? `${entry.attrs[prop]}-x` : drifted(m, prop);
          run(desired, actual);
        }
  }
  return ops;
}

/** A value someone could give a property the entry does not have. */
function drifted(m: ProductMenu, prop: string): string {
  return { bool: "true", flag: "", duration: "1h", prefix: "10.9.9.0/24", int: "7", text: "x" }[
    m.props[prop]
  ];
}

interface Sent {
  menu: string;
  command: string;
  args: Record<string, string>;
}

/** A command as the API sends it: menu, command and `=name=value` arguments (`.id` is `numbers`). */
function sent(words: string[]): Sent {
  const slash = words[0].lastIndexOf("/");
  const args: Record<string, string> = {};
  for (const w of words.slice(1)) {
    const eq = w.indexOf("=", 1);
    const name = w.slice(1, eq);
    args[name === ".id" ? "numbers" : name === ".proplist" ? "proplist" : name] = w.slice(eq + 1);
  }
  return { menu: words[0].slice(0, slash), command: words[0].slice(slash + 1), args };
}

/**
 * Menus the provider writes that the data does not cover (its crawls keep the data-path menus only), each
 * with why it is safe. Any other menu missing from the data fails the tests below.
 */
const OUTSIDE_THE_DATA: Record<string, string> = {
  "/system/script":
    "the spec record (provider/common/record.ts): name, source, policy and comment, in every RouterOS 6 and 7",
};

let everything: Sent[] | undefined;

/** Every distinct command the provider sends for the specs (computed once). */
function everythingSent(): Sent[] {
  return (everything ??= collectSent().filter((s) => !(s.menu in OUTSIDE_THE_DATA)));
}

function collectSent(): Sent[] {
  const writes = reconcilerOps().map((op) => sent(opWords(op, () => "*1")));
  // The reads (backend.ts readDevice): each menu's managed properties by proplist.
  const reads = menusFor(7).map((m) => ({
    menu: m.path,
    command: "print",
    args: { proplist: [".id", "dynamic", ...Object.keys(m.props).map((p) => wireName(m, 7, p))].join(",") },
  }));
  const seen = new Map<string, Sent>();
  for (const s of [...reads, ...writes]) seen.set(JSON.stringify(s), s);
  return [...seen.values()];
}

/** Offered-value checks: the properties whose values are enumerations (not names of user objects). */
const ENUMERATED = [
  "action",
  "connection-state",
  "dst-address-type",
  "passthrough",
  "per-connection-classifier",
  "check-gateway",
  "disabled",
  "type",
];

function valueProblems(s: Sent): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(s.args)) {
    if (s.command === "unset" && name === "value-name") {
      const offered = facts.lspArg(s.menu, "unset", "value-name")?.e ?? [];
      if (!offered.includes(value))
        out.push(
          `${s.menu}/unset: value-name=${value} is not offered (${facts.lspVersion}: ${offered.join(",")})`,
        );
      continue;
    }
    if (ENUMERATED.includes(name)) {
      const offered = facts.offered(s.menu, name);
      if (!offered) continue;
      const parts = value
        .replace(/^!/, "")
        .split(",")
        .map((p) => (name === "per-connection-classifier" ? p.split(":")[0] : p));
      for (const p of parts)
        if (!offered.values.includes(p))
          out.push(
            `${s.menu}/${s.command}: ${name}=${p} is not offered in ${offered.version} (${offered.values.join(",")})`,
          );
    }
    const range = /(\d+)\.\.(\d+) \(integer number\)/.exec(facts.lspArg(s.menu, s.command, name)?.t ?? "");
    if (
      range &&
      /^\d+$/.test(value) &&
      (Number(value) < Number(range[1]) || Number(value) > Number(range[2]))
    )
      out.push(`${s.menu}/${s.command}: ${name}=${value} is outside ${range[1]}..${range[2]}`);
  }
  return out;
}

/** Read-only fields print returns but no command takes. */
const PRINTED_ONLY = new Set([".id", "dynamic"]);

test("without the data the suite fails, naming where it looked (it never skips)", () => {
  expect(() => loadOracle("/nonexistent/shared/routeros-inspect/oracle.json")).toThrow(
    "RouterOS command data not found at /nonexistent/shared/routeros-inspect/oracle.json",
  );
});

describe("RouterOS 7 data: what the provider sends", () => {
  test(`the declared minimum (${MIN_ROUTEROS_7}) and the newest build were both crawled`, () => {
    // A minimum between crawls would be checked against a later build: declare a crawled one.
    expect(facts.versions).toContain(MIN_ROUTEROS_7);
    expect(facts.versions.length).toBeGreaterThan(1);
  });

  test("every menu, command and argument exists in the oldest supported and the newest build", () => {
    const problems: string[] = [];
    const all = everythingSent();
    // The reconciler's repair commands are among them (a vacuous pass would prove nothing).
    expect(new Set(all.map((s) => s.command))).toEqual(
      new Set(["print", "add", "set", "enable", "unset", "remove", "move"]),
    );
    for (const v of [facts.crawledAtLeast(MIN_ROUTEROS_7), facts.newest])
      for (const s of all) {
        if (!facts.hasMenu(s.menu, v)) {
          problems.push(`${v}: no menu ${s.menu}`);
          continue;
        }
        const args = facts.commandArgs(s.menu, s.command, v);
        if (!args) {
          problems.push(`${v}: ${s.menu} has no ${s.command}`);
          continue;
        }
        const names =
          s.command === "print"
            ? s.args.proplist.split(",").filter((p) => !PRINTED_ONLY.has(p))
            : Object.keys(s.args);
        // A printed property is one that add or set takes (or that print lists as readable).
        const known =
          s.command === "print"
            ? new Set([
                ...(facts.commandArgs(s.menu, "set", v) ?? []),
                ...(facts.commandArgs(s.menu, "add", v) ?? []),
              ])
            : args;
        for (const n of names) if (!known.has(n)) problems.push(`${v}: ${s.menu}/${s.command} has no ${n}`);
      }
    expect(problems).toEqual([]);
  });

  test("every enumerated value, number range and unset value-name is one RouterOS offers", () => {
    expect(everythingSent().flatMap(valueProblems)).toEqual([]);
  });

  test("the menus outside the data are only the ones named, and the data really lacks them", () => {
    const outside = [...new Set(collectSent().map((s) => s.menu))].filter(
      (m) => !facts.hasMenu(m, facts.newest),
    );
    expect(outside.sort()).toEqual(Object.keys(OUTSIDE_THE_DATA).sort());
  });

  test("each way of clearing a property is a command the menu has, for that property", () => {
    const problems: string[] = [];
    for (const v of [facts.crawledAtLeast(MIN_ROUTEROS_7), facts.newest])
      for (const m of menusFor(7).filter((x) => !(x.path in OUTSIDE_THE_DATA)))
        for (const prop of Object.keys(m.props)) {
          const how = clearWith(m, 7, prop);
          const wire = wireName(m, 7, prop);
          const where = `${v}: ${m.path} ${prop} (${JSON.stringify(how)})`;
          if (how === "unset") {
            if (!facts.commandArgs(m.path, "unset", v)?.has("value-name"))
              problems.push(`${where}: no unset`);
            if (!facts.lspArg(m.path, "unset", "value-name")?.e?.includes(wire))
              problems.push(`${where}: unset does not offer it`);
          } else if (how === "enable") {
            if (!facts.commandArgs(m.path, "enable", v)) problems.push(`${where}: no enable`);
          } else if (how === "re-add") {
            if (!facts.commandArgs(m.path, "remove", v) || !facts.commandArgs(m.path, "add", v)?.has(wire))
              problems.push(`${where}: cannot remove and add`);
          } else if (!facts.commandArgs(m.path, "set", v)?.has(wire)) problems.push(`${where}: set lacks it`);
        }
    expect(problems).toEqual([]);
  });
});

/** The simulator's menus that exist in RouterOS 7 version `v` and that the data covers. */
function simMenusIn(v: string): SimMenu[] {
  const version = parseVersion(v);
  return SIM_MENUS.filter((m) => inWindow(version, m) && facts.covers(m.path));
}

describe("RouterOS 7 data: the simulator is no more lenient than the routers", () => {
  test("it offers no menu, command or property a crawled build lacks", () => {
    const problems: string[] = [];
    for (const v of facts.versions) {
      const version = parseVersion(v);
      for (const m of simMenusIn(v)) {
        if (!facts.hasMenu(m.path, v)) {
          problems.push(`${v}: no menu ${m.path}`);
          continue;
        }
        for (const c of m.commands) {
          // getall is API-only (print's alias); what `move`, `unset` etc. take is checked below.
          if (c === "getall" || !inWindow(version, m.commandWindows?.[c] ?? {})) continue;
          if (!facts.commandArgs(m.path, c, v)) problems.push(`${v}: ${m.path} has no ${c}`);
        }
        const input = new Set([
          ...(facts.commandArgs(m.path, "add", v) ?? []),
          ...(facts.commandArgs(m.path, "set", v) ?? []),
        ]);
        for (const [p, spec] of Object.entries(m.props))
          if (inWindow(version, spec) && !spec.readOnly && !input.has(p))
            problems.push(`${v}: ${m.path} takes no ${p}`);
        const readable = facts.readable(m.path, v);
        if (readable)
          for (const [p, spec] of Object.entries(m.props))
            if (inWindow(version, spec) && spec.readOnly && !readable.includes(p))
              problems.push(`${v}: ${m.path} prints no ${p}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("its enumerations and unset's value names are among what the routers offer", () => {
    const problems: string[] = [];
    for (const v of facts.versions) {
      const version = parseVersion(v);
      for (const m of simMenusIn(v)) {
        for (const [p, spec] of Object.entries(m.props)) {
          const offered = facts.offeredIn(m.path, p, v);
          if (!offered || !spec.type.values || !inWindow(version, spec)) continue;
          for (const value of spec.type.values({ version }))
            if (!offered.includes(value)) problems.push(`${v}: ${m.path} ${p}=${value} is not offered`);
        }
        if (v === facts.lspVersion && m.commands.includes("unset")) {
          const offered = facts.lspArg(m.path, "unset", "value-name")?.e ?? [];
          for (const p of m.unsettable ?? [])
            if (m.props[p] && inWindow(version, m.props[p]) && !offered.includes(p))
              problems.push(`${v}: ${m.path} unset offers no ${p}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test("it knows every property and command the product uses, in the oldest supported and the newest build", () => {
    const problems: string[] = [];
    for (const v of [facts.crawledAtLeast(MIN_ROUTEROS_7), facts.newest]) {
      const version = parseVersion(v);
      for (const s of everythingSent()) {
        const m = SIM_MENUS.find((x) => x.path === s.menu && inWindow(version, x));
        if (!m || !m.commands.includes(s.command as SimMenu["commands"][number])) {
          problems.push(`${v}: the simulator has no ${s.menu}/${s.command}`);
          continue;
        }
        const props =
          s.command === "print"
            ? s.args.proplist.split(",").filter((p) => !PRINTED_ONLY.has(p))
            : s.command === "add" || s.command === "set"
              ? Object.keys(s.args).filter((p) => p !== "numbers")
              : s.command === "unset"
                ? [s.args["value-name"]]
                : [];
        for (const p of props) {
          const spec = m.props[p];
          if (!spec || !inWindow(version, spec) || (spec.readOnly && s.command !== "print"))
            problems.push(`${v}: the simulator's ${s.menu} does not take ${p}`);
          else if (s.command === "unset" && !m.unsettable?.includes(p))
            problems.push(`${v}: the simulator's ${s.menu} cannot unset ${p}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe("RouterOS 6 notes (weak evidence: v6 has no inspect data, see the data's README)", () => {
  test("what the provider writes for v6 uses no menu or property known to be absent, and only known values", () => {
    const notes = loadV6Notes();
    const problems: string[] = [];
    for (const [, spec] of SPECS) {
      const r = parseSpec({
        ...spec,
        target: { routeros: { host: "r", username: "a", password: "", version: 6 } },
      });
      if (!r.ok) throw new Error(JSON.stringify(r.failures));
      const desired = renderRouterOs(buildPlan(r.spec), 6);
      for (const op of reconcile({ owner: "gw", version: 6, desired, actual: {} }).batches.flat()) {
        const s = sent(opWords(op, () => "*1"));
        if (notes.menus_absent[s.menu]) problems.push(`v6 has no ${s.menu}`);
        for (const [name, value] of Object.entries(s.args)) {
          if (notes.props_absent[s.menu]?.[name]) problems.push(`v6 ${s.menu} has no ${name}`);
          const known = notes.values[s.menu]?.[name]?.values;
          if (known && !known.includes(value)) problems.push(`v6 ${s.menu} ${name}=${value} is not known`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
