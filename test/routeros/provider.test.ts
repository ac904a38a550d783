/**
 * The real provider module, through the real node-routeros client, against the RouterOS API simulator over
 * TCP: the life cycle of a resource on RouterOS 6, 7 and 7.18+ (which answers empty prints with `!empty`).
 */
import * as provider from "../../provider/index";
import type { SpecInput } from "../../provider/spec/schema";
import { seedEcmp, seedNthSticky, thirdLink } from "../fixtures/specs";
import { menusFor } from "../../provider/routeros/menus";
import { counterName } from "../../provider/routeros/netwatch";
import type { LogEntry, RouterOsSim } from "../../labs/routeros-sim";
import {
  FOREIGN,
  foreignEntries,
  menusOf,
  owned,
  seedRouter,
  targetOf,
  up,
  upAgain,
  writesSince,
} from "./support";

const VERSIONS = ["6.49.10", "7.16.2", "7.18"];

/** Injected before every reply: a client that waits for an answer leaves a gap at least this long. */
const LATENCY_MS = 40;

/** Sequential waits in a slice of the log: arrivals more than half the latency apart start a new one. */
function roundTrips(log: LogEntry[]): number {
  return log.filter((e, i) => i === 0 || e.at - log[i - 1].at > LATENCY_MS / 2).length;
}

/** The print of every menu the backend reads, in the order it sends them. */
const menuPrints = (sim: RouterOsSim) => menusFor(sim.version.major as 6 | 7).map((m) => `${m.path}/print`);

describe.each(VERSIONS)("RouterOS %s", (version) => {
  let sim: RouterOsSim;
  let spec: SpecInput;
  beforeEach(async () => {
    sim = await seedRouter(version);
    spec = seedNthSticky({ target: targetOf(sim) });
  });
  afterEach(async () => sim.close());

  const ownedCount = () => menusOf(sim).reduce((n, m) => n + owned(sim, m).length, 0);
  const foreignSnapshot = () =>
    menusOf(sim)
      .concat("/ip/address")
      .map((m) => foreignEntries(sim, m));

  test("create writes the rendered entries, reads them back equal, and leaves foreign entries alone", async () => {
    const foreignBefore = foreignSnapshot();
    const { inputs, outs } = await up(spec);
    expect(outs.rules).toEqual(inputs.rules);
    expect(ownedCount()).toBe(inputs.ownedEntries);
    expect(outs.ownedEntries).toBe(inputs.ownedEntries);
    expect(foreignSnapshot()).toEqual(foreignBefore);
    // the owned mangle block is on top, the foreign rules follow in their order
    const mangle = sim.entries("/ip/firewall/mangle");
    expect(mangle.slice(-2).map((e) => e.comment)).toEqual([FOREIGN.mangle.comment, FOREIGN.mangle2.comment]);
    // the owned nat block is at the bottom
    expect(sim.entries("/ip/firewall/nat")[0].comment).toBe(FOREIGN.nat.comment);
  });

  test("a second up is a no-op: no changes in diff, and zero writes even when update runs", async () => {
    const first = await up(spec);
    const from = sim.log.length;
    const again = await upAgain(first.id, first.outs, spec);
    expect(again.changed).toBe(false);
    const updated = await provider.update(first.id, first.outs, again.inputs);
    expect(writesSince(sim, from)).toEqual([]);
    expect((updated.outs as Record<string, unknown>).rules).toEqual(first.outs.rules);
  });

  test("a no-op update takes 2 round trips (login, one pipelined read): no verify read without writes", async () => {
    const first = await up(spec);
    const from = sim.log.length;
    sim.faults.latencyMs(LATENCY_MS);
    const updated = await provider.update(first.id, first.outs, first.inputs);
    sim.faults.clear();
    const log = sim.log.slice(from);
    expect(roundTrips(log)).toBe(2);
    // one read of every owned menu plus the version check, nothing else
    // (and the interfaces and addresses the spec is checked against)
    expect(log.map((e) => e.command)).toEqual([
      "/login",
      "/system/resource/print",
      ...menuPrints(sim),
      "/interface/print",
      "/ip/address/print",
    ]);
    expect((updated.outs as Record<string, unknown>).rules).toEqual(first.outs.rules);
  });

  test("an update that writes still verifies: the device is read again after the writes", async () => {
    const first = await up(spec);
    const from = sim.log.length;
    const weighted = seedNthSticky({ target: targetOf(sim) });
    (weighted.links as Array<Record<string, unknown>>)[0].weight = 2;
    await upAgain(first.id, first.outs, weighted);
    const commands = sim.log.slice(from).map((e) => e.command);
    const versionChecks = commands.flatMap((c, i) => (c === "/system/resource/print" ? [i] : []));
    expect(versionChecks).toHaveLength(2);
    const lastWrite = Math.max(
      ...commands.map((c, i) => (/\/(add|set|remove|move|unset)$/.test(c) ? i : -1)),
    );
    expect(versionChecks[1]).toBeGreaterThan(lastWrite);
    expect(commands.slice(versionChecks[1] + 1)).toEqual(menuPrints(sim));
  });

  test("a weight change touches only the entries that change", async () => {
    const first = await up(spec);
    const from = sim.log.length;
    const weighted = seedNthSticky({ target: targetOf(sim) });
    (weighted.links as Array<Record<string, unknown>>)[0].weight = 2;
    const next = await upAgain(first.id, first.outs, weighted);
    expect(next.changed).toBe(true);
    expect(next.outs.rules).toEqual(next.inputs.rules);
    const writes = writesSince(sim, from);
    // 1:1 → 2:1: slot rules 1 and 2 change, slot 3 is new, and the spec record says the new weight;
    // nothing else is written
    expect(writes.filter((w) => w.includes("/add"))).toEqual(["/ip/firewall/mangle/add lbgw:gw:classify:3"]);
    expect(writes.filter((w) => w.includes("/set") && w.includes("/mangle/"))).toHaveLength(2);
    expect(writes.filter((w) => w.includes("/system/script/set"))).toHaveLength(1);
    // and one move puts the new rule in its place
    expect(writes.filter((w) => w.includes("/move"))).toHaveLength(1);
    expect(writes).toHaveLength(5);
  });

  test("adding a third link, then switching strategy to pcc and to ecmp, converges each time", async () => {
    let state = await up(spec);
    for (const next of [
      seedNthSticky({ target: targetOf(sim), links: [...seedNthSticky().links, thirdLink] }),
      seedNthSticky({ target: targetOf(sim), strategy: "pcc", sticky: false, hash: "src-address" }),
      seedEcmp({ target: targetOf(sim) }),
    ]) {
      const foreignBefore = foreignSnapshot();
      const r = await upAgain(state.id, state.outs, next);
      expect(r.changed).toBe(true);
      expect(r.outs.rules).toEqual(r.inputs.rules);
      expect(ownedCount()).toBe(r.inputs.ownedEntries);
      expect(foreignSnapshot()).toEqual(foreignBefore);
      state = { id: state.id, inputs: r.inputs, outs: r.outs };
    }
  });

  test("an update that removes a link forgets its probe's round counter, and only that one", async () => {
    const withLte = seedNthSticky({ target: targetOf(sim), links: [...seedNthSticky().links, thirdLink] });
    const state = await up(withLte);
    const counters = ["wlan1", "lte"].map((l) => counterName("gw", l, 0));
    if (sim.version.major === 7)
      for (const name of counters) sim.edit.add("/system/script/environment", { name, value: "0" });
    await upAgain(state.id, state.outs, spec);
    expect(sim.entries("/system/script/environment").map((e) => e.name)).toEqual(
      sim.version.major === 7 ? [counters[0]] : [],
    );
    for (const e of sim.entries("/system/script/environment"))
      sim.edit.remove("/system/script/environment", e[".id"]);
  });

  test("drift: an owned rule removed by hand is reported by refresh and repaired by the next up; a foreign change is not reported", async () => {
    const first = await up(spec);
    const victim = owned(sim, "/ip/firewall/mangle").find((e) => e.comment === "lbgw:gw:classify:1");
    sim.edit.remove("/ip/firewall/mangle", victim?.[".id"] as string);
    const foreignRule = foreignEntries(sim, "/ip/firewall/mangle")[0];
    sim.edit.set("/ip/firewall/mangle", foreignRule[".id"], { comment: "operator: changed by hand" });

    const refreshed = await provider.read(first.id, first.outs);
    const rules = refreshed.props?.rules as Record<string, string>;
    const before = first.outs.rules as Record<string, string>;
    // exactly the removed rule is missing (and the mangle order entry no longer lists it)
    expect(Object.keys(before).filter((k) => !(k in rules))).toEqual(["ip firewall mangle classify:1"]);
    expect(before["ip firewall mangle classify:1"]).toContain("comment=lbgw:gw:classify:1");
    expect(rules["ip firewall mangle (order)"]).not.toContain("classify:1 ");
    expect(Object.values(rules).some((l) => l.includes("operator"))).toBe(false);
    // refresh also updates the stored inputs, so the next up diffs the spec against the device; the live
    // link status is an output only (status, not configuration)
    const { linkStatus, ...configuration } = refreshed.props as Record<string, unknown>;
    expect(linkStatus).toEqual(
      expect.objectContaining({ wlan1: expect.anything(), wlan2: expect.anything() }),
    );
    expect(refreshed.inputs).toEqual(configuration);

    const repaired = await upAgain(first.id, refreshed.props as Record<string, unknown>, spec);
    expect(repaired.changed).toBe(true);
    expect(repaired.outs.rules).toEqual(first.outs.rules);
    expect(foreignEntries(sim, "/ip/firewall/mangle")[0].comment).toBe("operator: changed by hand");
  });

  test("delete removes every owned entry, the learned sticky users, the probes' counters, and nothing else", async () => {
    const foreignBefore = foreignSnapshot();
    const first = await up(spec);
    sim.edit.add("/ip/firewall/address-list", {
      list: "lbgw-gw-sticky-wlan1",
      address: "192.168.0.77",
      timeout: "1d",
    });
    // What the probes' RouterOS 7 test-scripts leave in memory: a round counter per probe; and another's.
    const counters = ["wlan1", "wlan2"].map((l) => counterName("gw", l, 0));
    if (sim.version.major === 7)
      for (const name of [...counters, "someoneElses"])
        sim.edit.add("/system/script/environment", { name, value: "0" });
    await provider.remove(first.id, first.outs);
    expect(ownedCount()).toBe(0);
    expect(sim.entries("/ip/firewall/address-list").filter((e) => e.list?.startsWith("lbgw-gw"))).toEqual([]);
    expect(sim.entries("/system/script/environment").map((e) => e.name)).toEqual(
      sim.version.major === 7 ? ["someoneElses"] : [],
    );
    expect(foreignSnapshot()).toEqual(foreignBefore);
  });

  test("a version mismatch is refused before anything is written", async () => {
    const wrong = seedNthSticky({
      target: { routeros: { ...targetOf(sim).routeros!, version: sim.version.major === 7 ? 6 : 7 } },
    });
    const checked = await provider.check({}, wrong as unknown as Record<string, unknown>);
    await expect(provider.create(checked.inputs)).rejects.toThrow(/RouterOS version mismatch/);
    expect(sim.stats().writes).toBe(0);
  });
});

test("wrong credentials and an unreachable router give clear errors", async () => {
  const sim = await seedRouter("7.16.2");
  try {
    const bad = seedNthSticky({ target: { routeros: { ...targetOf(sim).routeros!, password: "nope" } } });
    const checked = await provider.check({}, bad as unknown as Record<string, unknown>);
    await expect(provider.create(checked.inputs)).rejects.toThrow(
      /refused the login: invalid user name or password/,
    );
  } finally {
    await sim.close();
  }
  const closed = seedNthSticky({ target: { routeros: { ...targetOf(sim).routeros! } } });
  const checked = await provider.check({}, closed as unknown as Record<string, unknown>);
  await expect(provider.create(checked.inputs)).rejects.toThrow(/refused the connection|no answer/);
});
