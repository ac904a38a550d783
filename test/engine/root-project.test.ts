/**
 * The repository as a Pulumi project (Pulumi.yaml at the root, deploy/gateway.ts): a gateway from a spec
 * file and stack configuration, no program of the user's own, under the real engine against the RouterOS
 * simulator: preview shows the rules, up applies them, a second up changes nothing, destroy removes them.
 */
import type { RouterOsSim } from "../../labs/routeros-sim";
import { foreignEntries, menusOf, seedRouter } from "../routeros/support";
import {
  COMMAND_TIMEOUT_MS,
  ENSURE_TIMEOUT_MS,
  Engine,
  REPO,
  engineDescribe,
  printTimings,
  requireBuiltPackage,
  type Stack,
} from "./support";
import * as fs from "node:fs";
import * as path from "node:path";

const PASSWORD = "Pw-root-4e1a";

jest.setTimeout(4 * COMMAND_TIMEOUT_MS);

const suite = engineDescribe("the repository's own Pulumi project");

suite("the repository's own Pulumi project", () => {
  let engine: Engine;
  let sim: RouterOsSim;
  let stack: Stack;
  const owned = () =>
    menusOf(sim).flatMap((m) => sim.entries(m).filter((e) => (e.comment ?? "").startsWith("lbgw:office:")));
  const foreign = () => menusOf(sim).map((m) => foreignEntries(sim, m));
  let foreignBefore: unknown;

  beforeAll(async () => {
    requireBuiltPackage(".");
    if (!fs.existsSync(path.join(REPO, "dist/deploy/gateway.js")))
      throw new Error("dist/deploy/gateway.js is missing: run `bash scripts/setup.sh` (npm test does)");
    engine = await Engine.create();
    sim = await seedRouter("7.16.2", PASSWORD);
    foreignBefore = foreign();
    stack = await engine.stack(REPO, "root");
    await stack.setAll(
      {
        specFile: "examples/routeros-nth-sticky/spec.yaml",
        name: "office",
        routerHost: sim.host,
        routerPort: sim.port,
      },
      { routerPassword: PASSWORD },
    );
  }, ENSURE_TIMEOUT_MS);

  afterAll(async () => {
    printTimings("root project engine tests");
    await engine?.dispose();
    await sim?.close();
  });

  test("preview lists the rules of the spec file; up applies them; a second up changes nothing", async () => {
    const p = await stack.preview(["--diff"]);
    expect(p.output).toMatch(/\+ 2 to create/);
    expect(p.output).toContain("comment=lbgw:office:"); // (long rule lines are cut short in the display)
    expect(p.output).toMatch(/target\s*: \[secret\]/);
    const up = await stack.up();
    expect(up.output).toMatch(/\+ 2 created/);
    expect(owned().length).toBe((await stack.outputs()).ownedEntries);
    const writes = sim.stats().writes;
    const again = await stack.up("up (unchanged)");
    expect(again.output).toMatch(/Resources:\s+2 unchanged/);
    expect(sim.stats().writes).toBe(writes);
    expect(engine.backendText()).not.toContain(PASSWORD);
  });

  test("destroy removes every owned entry and nothing else", async () => {
    const r = await stack.destroy();
    expect(r.output).toMatch(/- 2 deleted/);
    expect(owned()).toEqual([]);
    expect(foreign()).toEqual(foreignBefore);
  });
});
