/**
 * The RouterOS examples as real Pulumi programs (TypeScript through the dynamic provider; Python and YAML
 * through the lbgw plugin), driven by the real Pulumi CLI (file backend), against the
 * RouterOS API simulator running in this process: preview, up, up again, preview --diff of a weight
 * change, refresh after drift, repair, invalid arguments, secrets at rest, destroy.
 *
 * Each flow is one stack; its tests run in order and build on each other. The engine runs the compiled
 * package (dist/, built by scripts/setup.sh) exactly as a user's `pulumi up` would.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { foreignEntries, menusOf, seedRouter, writesSince } from "../routeros/support";
import {
  COMMAND_TIMEOUT_MS,
  ENSURE_TIMEOUT_MS,
  Engine,
  REPO,
  changedElements,
  engineDescribe,
  gatewayState,
  isElementLine,
  printTimings,
  progressLines,
  requireBuiltPackage,
  ruleLines,
  type GatewayState,
  type RunResult,
  type Stack,
} from "./support";

/** Distinctive, so that finding it anywhere at rest is unambiguous. */
const PASSWORD = "Pw-9f3k-secret";

/** The seeds' router (as test/routeros/support.ts), with our password. */
const startRouter = (version: string): Promise<RouterOsSim> => seedRouter(version, PASSWORD);

interface Flow {
  example: string;
  /** The example's resource name, which is its owner tag. */
  owner: string;
  simVersion: string;
  rosVersion: 6 | 7;
  /** What `wlan1Weight 2` does to this flow's preview. */
  weightChange: { kind: "diff"; expect: string[] } | { kind: "refused"; property: string; reason: string };
}

/** weights 2:1 → three classifier slots: nth=3,1 (wlan1), nth=2,1 (wlan2), the rest (wlan1) */
const NTH_STICKY_WEIGHT_2: Flow["weightChange"] = {
  kind: "diff",
  expect: ["nth=3,1", "ip firewall mangle classify:3", "nth=2,1"],
};

const FLOWS: Flow[] = [
  {
    example: "routeros-nth-sticky",
    owner: "office",
    simVersion: "7.16.2",
    rosVersion: 7,
    weightChange: NTH_STICKY_WEIGHT_2,
  },
  // The same gateway in Python (generated SDK) and in YAML (no SDK), through the lbgw plugin.
  {
    example: "python-routeros",
    owner: "office",
    simVersion: "7.16.2",
    rosVersion: 7,
    weightChange: NTH_STICKY_WEIGHT_2,
  },
  {
    example: "yaml-routeros",
    owner: "office",
    simVersion: "7.16.2",
    rosVersion: 7,
    weightChange: NTH_STICKY_WEIGHT_2,
  },
  {
    example: "routeros-ecmp",
    owner: "branch",
    simVersion: "7.16.2",
    rosVersion: 7,
    weightChange: {
      kind: "refused",
      property: "strategy",
      reason: "RouterOS 7 ECMP spreads evenly over its gateways and cannot weight them",
    },
  },
  {
    example: "routeros-ecmp",
    owner: "branch",
    simVersion: "6.49.10",
    rosVersion: 6,
    // RouterOS 6: one ECMP route whose gateway list repeats a gateway once per weight unit
    weightChange: { kind: "diff", expect: ["gateway=198.51.100.1,198.51.100.1,198.51.100.2"] },
  },
];

jest.setTimeout(4 * COMMAND_TIMEOUT_MS);

const suite = engineDescribe("RouterOS examples under the real Pulumi engine");

suite("RouterOS examples under the real Pulumi engine", () => {
  let engine: Engine;
  /** Every line the CLI printed in this file: the password must never be among them. */
  const printed: string[] = [];
  const keep = (r: RunResult): RunResult => (printed.push(r.output), r);

  beforeAll(async () => {
    engine = await Engine.create();
  }, ENSURE_TIMEOUT_MS);

  afterAll(async () => {
    printTimings("RouterOS engine tests");
    await engine?.dispose();
  });

  describe.each(FLOWS)("$example on RouterOS $simVersion", (flow) => {
    const dir = path.join(REPO, "examples", flow.example);
    const prefix = `lbgw:${flow.owner}:`;
    let sim: RouterOsSim;
    let stack: Stack;
    let foreignBefore: unknown;

    const allOwned = (): Array<Record<string, string> & { menu: string }> =>
      menusOf(sim).flatMap((menu) =>
        sim
          .entries(menu)
          .filter((e) => (e.comment ?? "").startsWith("lbgw:"))
          .map((e) => ({ ...e, menu })),
      );
    const foreign = () =>
      menusOf(sim)
        .concat("/ip/address")
        .map((m) => foreignEntries(sim, m));
    const writes = () => sim.stats().writes;

    beforeAll(async () => {
      requireBuiltPackage(path.join("examples", flow.example));
      sim = await startRouter(flow.simVersion);
      foreignBefore = foreign();
      stack = await engine.stack(dir, `${flow.example}-v${flow.rosVersion}`);
      await stack.setAll(
        { routerHost: sim.host, routerPort: sim.port, routerUser: "admin", rosVersion: flow.rosVersion },
        { routerPassword: PASSWORD },
      );
    }, ENSURE_TIMEOUT_MS);

    afterAll(async () => {
      await sim?.close();
    });

    test("preview of the new stack lists the rule lines to create and touches nothing", async () => {
      const r = keep(await stack.preview(["--diff"]));
      expect(r.output).toMatch(/\+ 2 to create/);
      expect(r.output).toContain(`comment=${prefix}`);
      expect(r.output).toMatch(/target\s*: \[secret\]/);
      expect(writes()).toBe(0);
      expect(allOwned()).toEqual([]);
    });

    test("up applies: the owned entries are on the router, foreign entries intact, progress shown", async () => {
      const r = keep(await stack.up());
      expect(r.output).toMatch(/\+ 2 created/);
      const owned = allOwned();
      expect(owned.length).toBeGreaterThan(10);
      for (const e of owned) expect(e.comment.startsWith(prefix)).toBe(true);
      // the state's rule lines are the router's owned entries, one each, and what the program asked for
      const state = await gatewayState(stack);
      expect(ruleLines(state.outputs.rules)).toEqual(ruleLines(state.inputs.rules));
      expect(
        ruleLines(state.outputs.rules)
          .map((l) => /comment=(\S+)$/.exec(l)?.[1])
          .sort(),
      ).toEqual(owned.map((e) => e.comment.split(" ")[0]).sort()); // the LAN list's comment also holds the claim
      expect(foreign()).toEqual(foreignBefore);
      const outputs = await stack.outputs();
      expect(outputs.ownedEntries).toBe(owned.length);
      expect(outputs.device).toBe(`routeros://${sim.host}:${sim.port}`);
      // the provider's steps, as the engine shows them (provider stderr → info diagnostics): live, while
      // the resource is being created, and again in the Diagnostics summary
      const live = r.output.slice(r.output.indexOf("Updating ("), r.output.lastIndexOf("Diagnostics:"));
      expect(live).toMatch(/creating \(\d+s\) lbgw: connecting to RouterOS at /);
      const progress = progressLines(r.output);
      expect(progress).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^connecting to RouterOS at /),
          expect.stringMatching(/^\d+ change\(s\) to apply on /),
          expect.stringMatching(/^verifying /),
          expect.stringMatching(
            new RegExp(`^routeros://.*: \\d+ write\\(s\\), ${owned.length} owned entries`),
          ),
        ]),
      );
      // the operations it counts are the writes the router received
      const reported = progress.map((l) => /: (\d+) write\(s\)/.exec(l)?.[1]).find((n) => n !== undefined);
      expect(Number(reported)).toBe(writes());
      expect(writes()).toBeGreaterThanOrEqual(owned.length);
    });

    test("a second up reports no changes and writes nothing to the router", async () => {
      const logFrom = sim.log.length;
      const before = writes();
      const r = keep(await stack.up("up (unchanged)"));
      expect(r.output).toMatch(/Resources:\s+2 unchanged/);
      expect(r.output).not.toMatch(/to update|updated|created|deleted/);
      expect(writes() - before).toBe(0);
      expect(writesSince(sim, logFrom)).toEqual([]);
    });

    test("refresh of an unchanged router: no update, linkStatus in the state, and the next up changes nothing", async () => {
      const before = writes();
      const r = keep(await stack.refresh("refresh (unchanged)"));
      expect(r.output).not.toMatch(/updated|to update|deleted/);
      const state = await gatewayState(stack);
      const linkStatus = (st: GatewayState) => (st.outputs as Record<string, unknown>).linkStatus;
      expect(linkStatus(state)).toMatchObject({
        wlan1: { up: true, lastProbe: "ok", source: "netwatch" },
        wlan2: { up: true, lastProbe: "ok", source: "netwatch" },
      });
      // A link going down between two refreshes is status, not drift: neither refresh nor up reports it.
      const watch = sim.entries("/tool/netwatch").find((e) => e.comment?.includes(":watch:wlan1:"))!;
      sim.edit.netwatchStatus(watch[".id"], "down");
      const again = keep(await stack.refresh("refresh (probe down)"));
      expect(again.output).not.toMatch(/updated|to update|deleted/);
      expect(linkStatus(await gatewayState(stack))).toMatchObject({ wlan1: { lastProbe: "failed" } });
      const u = keep(await stack.up("up (after refresh)"));
      expect(u.output).toMatch(/Resources:\s+2 unchanged/);
      expect(writes() - before).toBe(0);
      sim.edit.netwatchStatus(watch[".id"], "up");
    });

    test("preview --diff of wlan1Weight 2 prints the changed rule lines (or refuses them)", async () => {
      const before = writes();
      const ownedBefore = allOwned();
      await stack.setConfig("wlan1Weight", "2");
      const wc = flow.weightChange;
      if (wc.kind === "diff") {
        const r = keep(await stack.preview(["--diff"], { step: "preview --diff (weight)" }));
        expect(r.output).toMatch(/~ 1 to update/);
        expect(r.output).toMatch(/~ rules\s*: [[{]/);
        expect(r.output).toMatch(/~ weight\s*: 1 => 2/);
        // the changed rule lines themselves, not just "update"
        const changed = changedElements(r.output);
        for (const s of wc.expect) expect(changed.some((l) => l.includes(s))).toBe(true);
        expect(writes() - before).toBe(0); // a preview never writes
        expect(allOwned()).toEqual(ownedBefore);

        const u = keep(await stack.up("up (weight)"));
        expect(u.output).toMatch(/~ 1 updated/);
        const comments = allOwned().map((e) => `${e.comment} ${JSON.stringify(e)}`);
        // the new entry is on the router ("ip firewall mangle classify:3" → comment lbgw:office:classify:3)
        for (const s of wc.expect.filter((x) => x.startsWith("ip firewall mangle ")))
          expect(
            comments.some((c) => c.startsWith(`${prefix}${s.slice("ip firewall mangle ".length)} `)),
          ).toBe(true);
        if (flow.rosVersion === 6)
          expect(sim.entries("/ip/route").find((e) => e.comment === `${prefix}route:ecmp`)?.gateway).toBe(
            "198.51.100.1,198.51.100.1,198.51.100.2",
          );
        else
          expect(
            sim.entries("/ip/firewall/mangle").find((e) => e.comment === `${prefix}classify:1`)?.nth,
          ).toBe("3,1");
      } else {
        const r = keep(await stack.preview([], { allowFailure: true, step: "preview (weight refused)" }));
        expect(r.code).not.toBe(0);
        expect(r.output).toContain(`property ${wc.property}`);
        expect(r.output).toContain(wc.reason);
        expect(writes() - before).toBe(0);
        await stack.pulumi(["config", "rm", "-s", stack.name, "wlan1Weight"], "config rm");
      }
    });

    test("a rule removed by hand shows up in refresh, and the next up repairs it", async () => {
      const victim = allOwned().find((e) => e.menu === "/ip/firewall/mangle")!;
      expect(victim).toBeDefined();
      const countBefore = allOwned().length;
      sim.edit.remove(victim.menu, victim[".id"]);
      expect(allOwned().length).toBe(countBefore - 1);

      const before = writes();
      const r = keep(await stack.refresh("refresh --diff", ["--diff"]));
      expect(writes() - before).toBe(0); // refresh only reads
      expect(r.output).toMatch(/~ 1 updated/);
      // the removed line is shown as a removed element of `rules` (or, while `rules` is an array that the
      // engine diffs by index, as the old value of the element it used to be)
      const removedLine = r.output.split("\n").find(
        (l) =>
          /^\s*[~-] /.test(l) &&
          isElementLine(l) &&
          // the entry's key: "ip firewall mangle <ownership key>" (long values are cut short in the display)
          l.includes(`ip firewall mangle ${victim.comment.split(":").slice(2).join(":")} `),
      );
      expect(removedLine).toBeDefined();
      expect(progressLines(r.output)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^connecting to RouterOS at /)]),
      );
      // the refreshed state holds the router's rules: the removed one is gone from it
      const refreshed = await gatewayState(stack);
      expect(ruleLines(refreshed.outputs.rules)).toHaveLength(countBefore - 1);
      expect(ruleLines(refreshed.outputs.rules).some((l) => l.includes(`comment=${victim.comment}`))).toBe(
        false,
      );

      const u = keep(await stack.up("up (repair)"));
      expect(u.output).toMatch(/~ 1 updated/);
      const again = allOwned().find((e) => e.comment === victim.comment);
      expect(again).toBeDefined();
      expect(allOwned().length).toBe(countBefore);
      expect(writes() - before).toBeGreaterThanOrEqual(1);
      expect(foreign()).toEqual(foreignBefore);
    });

    test("invalid arguments fail preview with the property and the reason", async () => {
      const before = writes();
      await stack.setConfig("wlan1Weight", "0");
      const r = keep(await stack.preview([], { allowFailure: true, step: "preview (invalid)" }));
      expect(r.code).not.toBe(0);
      expect(r.output).toContain("links[0].weight");
      expect(r.output).toContain("whole number from 1 to 100");
      expect(writes() - before).toBe(0);
      // back to the applied configuration: nothing to do
      await stack.setConfig("wlan1Weight", flow.weightChange.kind === "diff" ? "2" : "1");
      const p = keep(await stack.preview([], { step: "preview (valid again)" }));
      expect(p.output).toMatch(/Resources:\s+2 unchanged/);
    });

    test("the state holds the RouterOS password only encrypted", async () => {
      // the password reached the router (the provider logged in with it) ...
      expect(sim.log.some((e) => e.command === "/login" && Object.values(e.attrs).includes(PASSWORD))).toBe(
        true,
      );
      // ... but is nowhere at rest: state, history, backups, config file, export
      const atRest = engine.backendText();
      expect(atRest).toContain(flow.owner); // the state is there
      expect(atRest).toContain("ciphertext");
      expect(atRest).not.toContain(PASSWORD);
      const exported = await stack.exportState();
      expect(exported).toContain("4dabf18193072939515e22adb298388d"); // Pulumi's secret signature
      expect(exported).not.toContain(PASSWORD);
      const config = fs.readFileSync(stack.configFile, "utf8");
      expect(config).toContain("secure:");
      expect(config).not.toContain(PASSWORD);
      expect(printed.join("\n")).not.toContain(PASSWORD);
    });

    test("destroy leaves no owned entry and the foreign entries intact", async () => {
      const r = keep(await stack.destroy());
      expect(r.output).toMatch(/- 2 deleted/);
      expect(progressLines(r.output)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^connecting to RouterOS at /)]),
      );
      expect(allOwned()).toEqual([]);
      expect(foreign()).toEqual(foreignBefore);
      // nothing the CLI printed in this flow carried the password
      expect(printed.join("\n")).not.toContain(PASSWORD);
    });
  });
});
