/**
 * Fault injection on RouterOS, exhaustively: the API connection is dropped after the k-th menu command of
 * an operation, for EVERY k from 1 to the number of commands that operation sends (measured first on a
 * clean run), with the k-th command applied before the drop or not (the router executed it but the client
 * never learned). The operations are the provider's own entry points (check → create / update → read):
 *
 * - create of the seed 001 configuration (RouterOS 7 and 6);
 * - update of that configuration to a weight change plus a third link (RouterOS 7).
 *
 * After each failure, and again after the rerun:
 * - foreign entries are exactly as before (every menu the resource writes, plus /ip/address);
 * - no owned key is present twice in a menu;
 * - an error that says "the previous configuration was restored" tells the truth (read() = the old lines);
 * - the rerun (what the next `pulumi up` does) converges: read() lines == the desired lines.
 */
import * as provider from "../../provider/index";
import { ApplyError } from "../../provider/routeros/backend";
import { seedNthSticky, thirdLink } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { checked, foreignEntries, menusOf, owned, seedRouter, targetOf } from "../routeros/support";

jest.setTimeout(120_000);

type Props = Record<string, unknown>;

const foreignState = (sim: RouterOsSim) =>
  JSON.stringify([...menusOf(sim), "/ip/address"].map((m) => [m, foreignEntries(sim, m)]));

/** Owned keys present more than once in one menu. */
function duplicates(sim: RouterOsSim): string[] {
  return menusOf(sim).flatMap((m) => {
    const comments = owned(sim, m).map((e) => e.comment);
    return comments.filter((c, i) => comments.indexOf(c) !== i).map((c) => `${m} ${c}`);
  });
}

/** The `rules` output (a list of lines, or a map of lines keyed by entry) in a form that compares by content. */
function canon(rules: unknown): string {
  if (Array.isArray(rules)) return JSON.stringify(rules);
  return JSON.stringify(
    Object.entries((rules ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}
const linesOf = (rules: unknown): string[] =>
  Array.isArray(rules) ? (rules as string[]) : Object.values((rules ?? {}) as Record<string, string>);

async function readRules(id: string, props: Props): Promise<unknown> {
  return (await provider.read(id, props)).props?.rules;
}

interface Operation {
  name: string;
  version: string;
  /** Brings a fresh simulator to the operation's starting point; returns the state Pulumi would hold. */
  prepare(sim: RouterOsSim): Promise<{ id: string; olds?: Props; oldRules: unknown }>;
  /** The desired inputs (after check). */
  desired(sim: RouterOsSim): Promise<Props>;
  /** What `pulumi up` calls: create, or update with the stored outputs. */
  run(id: string, olds: Props | undefined, news: Props): Promise<unknown>;
}

const create = (version: string): Operation => ({
  name: `create (seed 001, RouterOS ${version})`,
  version,
  prepare: async () => ({ id: "gw@pending", oldRules: undefined }),
  desired: (sim) => checked(seedNthSticky({ target: targetOf(sim) })),
  run: (_id, _olds, news) => provider.create(news),
});

const update: Operation = {
  name: "update (weight change + third link, RouterOS 7.16.2)",
  version: "7.16.2",
  prepare: async (sim) => {
    const inputs = await checked(seedNthSticky({ target: targetOf(sim) }));
    const created = await provider.create(inputs);
    return {
      id: created.id as string,
      olds: created.outs as Props,
      oldRules: (created.outs as Props).rules,
    };
  },
  desired: (sim) => {
    const spec = seedNthSticky({ target: targetOf(sim) });
    spec.links = [{ ...spec.links[0], weight: 3 }, spec.links[1], thirdLink];
    return checked(spec);
  },
  run: (id, olds, news) => provider.update(id, olds as Props, news),
};

/** Menu commands the operation sends on a clean run (the simulator counts across connections). */
async function measure(op: Operation): Promise<number> {
  const sim = await seedRouter(op.version);
  try {
    const { id, olds } = await op.prepare(sim);
    const news = await op.desired(sim);
    sim.resetStats();
    await op.run(id, olds, news);
    return sim.stats().commands;
  } finally {
    await sim.close();
  }
}

/** One fault case; returns what went wrong (empty when everything held). */
async function dropCase(
  op: Operation,
  k: number,
  applyBefore: boolean,
  reset: boolean,
): Promise<{ problems: string[]; outcome: string }> {
  const problems: string[] = [];
  let outcome = "?";
  const sim = await seedRouter(op.version);
  try {
    const { id, olds, oldRules } = await op.prepare(sim);
    const news = await op.desired(sim);
    const foreign = foreignState(sim);
    sim.resetStats();
    sim.faults.dropAfter(k, { applyBefore, reset });
    const err = await op.run(id, olds, news).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    sim.faults.clear();
    if (!err) problems.push("the operation succeeded although its connection was dropped");
    else if (!/closed|dropped|failed|connect/i.test(err.message))
      problems.push(`unclear error: ${err.message}`);
    if (foreignState(sim) !== foreign) problems.push("foreign entries changed by the failed operation");
    const dup = duplicates(sim);
    if (dup.length) problems.push(`duplicates after the failure: ${dup.join(", ")}`);
    outcome =
      err instanceof ApplyError
        ? err.restored
          ? "rolled back"
          : "left for the rerun"
        : "connection error outside the writes (read or verify)";
    if (err instanceof ApplyError && err.restored) {
      const now = await readRules(id, news);
      if (oldRules === undefined ? linesOf(now).length > 0 : canon(now) !== canon(oldRules))
        problems.push(
          `said "restored" but the device holds ${linesOf(now).length} entries instead of ${linesOf(oldRules).length}`,
        );
    }
    // The next `pulumi up`: the same call again (a failed create left no state; a failed update keeps the olds).
    await op.run(id, olds, news);
    const got = await readRules(id, news);
    if (canon(got) !== canon(news.rules)) {
      const want = linesOf(news.rules);
      const lines = linesOf(got);
      problems.push(
        `rerun did not converge: missing ${JSON.stringify(want.filter((l) => !lines.includes(l)))}, ` +
          `unexpected ${JSON.stringify(lines.filter((l) => !want.includes(l)))}`,
      );
    }
    if (foreignState(sim) !== foreign) problems.push("foreign entries changed after the rerun");
    const dupAfter = duplicates(sim);
    if (dupAfter.length) problems.push(`duplicates after the rerun: ${dupAfter.join(", ")}`);
  } catch (e) {
    problems.push(`unexpected: ${(e as Error).stack ?? e}`);
  } finally {
    await sim.close();
  }
  return { problems, outcome };
}

/** [operation, applyBefore, reset (RST instead of FIN)] */
const CASES: Array<[Operation, boolean, boolean]> = [
  [create("7.16.2"), false, false],
  [create("7.16.2"), true, false],
  [create("7.16.2"), true, true],
  [create("6.49.10"), false, false],
  [create("6.49.10"), true, false],
  [update, false, false],
  [update, true, false],
  [update, true, true],
];

describe("RouterOS: the connection dropped after the k-th command, for every k", () => {
  const silence = jest.spyOn(process.stderr, "write");
  beforeAll(() => silence.mockImplementation(() => true));
  afterAll(() => silence.mockRestore());

  test.each(
    CASES.map(([op, applyBefore, reset]) => [
      op.name,
      applyBefore ? "applied" : "not applied",
      reset ? "RST" : "FIN",
      op,
      applyBefore,
      reset,
    ]),
  )("%s, the k-th command %s before the drop (%s)", async (name, mode, how, op, applyBefore, reset) => {
    const n = await measure(op as Operation);
    // sanity: a create sends its reads, dozens of writes and the verify reads
    expect(n).toBeGreaterThan(16);
    const failures: string[] = [];
    const outcomes = new Map<string, number>();
    for (let k = 1; k <= n; k++) {
      const r = await dropCase(op as Operation, k, applyBefore as boolean, reset as boolean);
      failures.push(...r.problems.map((p) => `k=${k}: ${p}`));
      outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
    }
    // one line per sweep on the test log, so its extent is visible
    process.stdout.write(
      `${name}, ${mode}, ${how}: k = 1..${n}; ${[...outcomes].map(([o, c]) => `${c} ${o}`).join(", ")}\n`,
    );
    expect(failures).toEqual([]);
  });
});
