/**
 * `pulumi import` through the lbgw plugin, with the real engine, against the RouterOS simulator:
 * - a configuration printed by `lbgw render --holder` and pasted into the router is imported without a
 *   write, and the program that describes it (examples/yaml-routeros) then finds nothing to do;
 * - after a lost state, the same resource is imported again from the router alone;
 * - an ID that names no configuration fails, saying so.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import { main as lbgw } from "../../cli/lbgw";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { CREDENTIAL_PLACEHOLDER } from "../../plugin/import";
import { foreignEntries, menusOf, pasteScript, seedRouter } from "../routeros/support";
import {
  COMMAND_TIMEOUT_MS,
  ENSURE_TIMEOUT_MS,
  Engine,
  REPO,
  engineDescribe,
  gatewayState,
  printTimings,
  requireBuiltPackage,
  ruleLines,
  type Stack,
} from "./support";

const PASSWORD = "Pw-import-7f2c";
const EXAMPLE = path.join(REPO, "examples/yaml-routeros");
const TYPE = "lbgw:index:LoadBalancedGateway";

/** What examples/yaml-routeros declares (wlan1Weight 1), as a spec file for `lbgw render`. */
const SPEC = {
  lan: { interfaces: ["Local"], networks: ["192.168.0.0/24"] },
  links: [
    {
      name: "wlan1",
      interface: "wlan1",
      gateway: "10.112.0.1",
      weight: 1,
      check: { targets: ["198.51.100.1"] },
    },
    {
      name: "wlan2",
      interface: "wlan2",
      gateway: "10.111.0.1",
      nat: { srcNat: "10.111.0.2" },
      check: { targets: ["198.51.100.2"] },
    },
  ],
  strategy: "nth",
  sticky: { timeout: "1d" },
  routerTraffic: "wlan1",
};

jest.setTimeout(4 * COMMAND_TIMEOUT_MS);

const suite = engineDescribe("pulumi import through the lbgw plugin");

suite("pulumi import through the lbgw plugin", () => {
  let engine: Engine;
  let sim: RouterOsSim;
  let stack: Stack;
  const writes = () => sim.stats().writes;
  const owned = () =>
    menusOf(sim).flatMap((m) => sim.entries(m).filter((e) => (e.comment ?? "").startsWith("lbgw:office:")));
  const foreign = () => menusOf(sim).map((m) => foreignEntries(sim, m));
  let foreignBefore: unknown;

  const importGateway = (step: string, id = `office@routeros://${sim.host}:${sim.port}`, name = "office") =>
    stack.pulumi(["import", TYPE, name, id, "--yes", "-s", stack.name], step, {
      env: { LBGW_ROUTEROS_PASSWORD: PASSWORD },
      allowFailure: true,
    });

  beforeAll(async () => {
    requireBuiltPackage("examples/yaml-routeros");
    engine = await Engine.create();
    sim = await seedRouter("7.16.2", PASSWORD);
    foreignBefore = foreign();
    stack = await engine.stack(EXAMPLE, "import-yaml");
    await stack.setAll({ routerHost: sim.host, routerPort: sim.port }, { routerPassword: PASSWORD });
  }, ENSURE_TIMEOUT_MS);

  afterAll(async () => {
    printTimings("import engine tests");
    await engine?.dispose();
    await sim?.close();
  });

  test("a rendered configuration pasted into the router is imported without a write, and up then writes nothing", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lbgw-import-"));
    const file = path.join(dir, "spec.yaml");
    fs.writeFileSync(file, stringify(SPEC));
    let script = "";
    const code = await lbgw(
      ["render", "--spec", file, "--target", "routeros", "--owner", "office"].concat([
        "--holder",
        `yaml-routeros/${stack.name}/office`,
      ]),
      (s) => (script += s),
      (s) => process.stderr.write(s),
    );
    expect(code).toBe(0);
    expect(script).toMatch(/comment="?lbgw:office:lan instance=[0-9a-f]+ holder=yaml-routeros\//);
    await pasteScript(sim, script, PASSWORD);
    const pasted = owned().length;
    expect(pasted).toBeGreaterThan(30);

    const before = writes();
    const imp = await importGateway("import (pasted)");
    expect(imp.code).toBe(0);
    expect(imp.output).toMatch(/= 1 imported/);
    expect(imp.output).not.toMatch(/failed to validate|has a problem/);
    // the program to paste: the arguments from the router, no credential
    expect(imp.output).toMatch(/type: lbgw:LoadBalancedGateway/);
    expect(imp.output).toMatch(/srcNat: 10\.111\.0\.2/);
    expect(imp.output).toContain(CREDENTIAL_PLACEHOLDER);
    expect(imp.output).not.toContain(PASSWORD);
    expect(writes() - before).toBe(0);
    const state = await gatewayState(stack);
    expect(ruleLines(state.outputs.rules)).toHaveLength(pasted);

    const up = await stack.up("up (after import)");
    expect(up.output).toMatch(/Resources:\s+2 unchanged/);
    expect(writes() - before).toBe(0);
    expect(owned()).toHaveLength(pasted);
  });

  test("after a lost state the router alone rebuilds the resource: import, then up writes nothing", async () => {
    const config = fs.readFileSync(stack.configFile, "utf8");
    await stack.pulumi(["stack", "rm", "-s", stack.name, "--force", "--yes"], "stack rm (state lost)");
    await stack.pulumi(["stack", "init", "-s", stack.name], "stack init (again)");
    fs.writeFileSync(stack.configFile, config);

    const before = writes();
    const imp = await importGateway("import (lost state)");
    expect(imp.code).toBe(0);
    expect(imp.output).toMatch(/= 1 imported/);
    const up = await stack.up("up (after the second import)");
    expect(up.output).toMatch(/Resources:\s+2 unchanged/);
    const refresh = await stack.refresh("refresh (after import)");
    expect(refresh.output).not.toMatch(/updated|to update|deleted/);
    expect(writes() - before).toBe(0);
  });

  test("an ID that names no configuration fails, saying so, and writes nothing", async () => {
    const before = writes();
    const r = await importGateway(
      "import (nothing there)",
      `nobody@routeros://${sim.host}:${sim.port}`,
      "nobody",
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('holds no configuration of owner "nobody" to import');
    expect(writes() - before).toBe(0);
  });

  test("the imported resource is destroyed like any other (once unprotected): nothing of it is left", async () => {
    await stack.pulumi(["state", "unprotect", "--all", "--yes", "-s", stack.name], "state unprotect");
    const r = await stack.destroy();
    expect(r.output).toMatch(/- 2 deleted/);
    expect(owned()).toEqual([]);
    expect(foreign()).toEqual(foreignBefore);
  });
});
