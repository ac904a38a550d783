/**
 * The production load path of the dynamic provider: Pulumi serialises the provider object into the state
 * (closure serialisation), and the dynamic-provider host later loads that text with require-from-string
 * from the program's directory and calls its methods. Both halves run here in fresh Node processes, from
 * the example program's directory, on the compiled package — as under `pulumi up`.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { seedNthSticky } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { owned, seedRouter, targetOf } from "./support";

const root = join(__dirname, "..", "..");
const programDir = join(root, "examples", "routeros-nth-sticky");

/** Runs a script in a fresh Node process (asynchronously: the simulator answers from this process). */
function node(script: string, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ["-e", script],
      { cwd: programDir, encoding: "utf8", timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
    child.stdin?.end(input);
  });
}

const SERIALISE = `
const pulumi = require("@pulumi/pulumi");
const { LoadBalancedGatewayProvider } = require("pulumi-loadbalanced-gateway");
const provider = new LoadBalancedGatewayProvider();
pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })
  .then((f) => process.stdout.write(f.text), (e) => { console.error(e); process.exit(1); });
`;

// What @pulumi/pulumi/cmd/dynamic-provider does with the stored text, then one full life cycle.
const LOAD_AND_RUN = `
const path = require("path");
const requireFromString = require(require.resolve("require-from-string", {
  paths: [path.dirname(require.resolve("@pulumi/pulumi/package.json"))],
}));
let input = "";
process.stdin.on("data", (d) => (input += d)).on("end", async () => {
  const { text, spec } = JSON.parse(input);
  const provider = requireFromString(text).handler();
  const checked = await provider.check({}, spec);
  const created = await provider.create(checked.inputs);
  const read = await provider.read(created.id, created.outs);
  await provider.delete(created.id, created.outs);
  process.stdout.write(JSON.stringify({ failures: checked.failures, id: created.id,
    created: created.outs.ownedEntries, same: JSON.stringify(read.props.rules) === JSON.stringify(checked.inputs.rules) }));
});
`;

describe("dynamic provider serialisation round trip", () => {
  let sim: RouterOsSim;
  beforeAll(async () => {
    if (
      !existsSync(join(root, "dist", "provider", "index.js")) ||
      !existsSync(join(programDir, "node_modules"))
    )
      throw new Error("the package is not built/linked: run `npm test` (scripts/setup.sh builds it)");
    sim = await seedRouter("7.16.2");
  });
  afterAll(async () => sim?.close());

  test("the stored closure holds no code of ours and no credentials, and works when loaded", async () => {
    const text = await node(SERIALISE, "");
    expect(text).toContain('require("pulumi-loadbalanced-gateway/provider")');
    expect(text).not.toMatch(/renderRouterOs|RosSession|reconcile/);
    expect(text.length).toBeLessThan(20_000);

    const spec = seedNthSticky({ target: targetOf(sim) });
    const result = JSON.parse(await node(LOAD_AND_RUN, JSON.stringify({ text, spec })));
    expect(result.failures).toEqual([]);
    expect(result.created).toBeGreaterThan(20);
    expect(result.same).toBe(true);
    expect(owned(sim, "/ip/firewall/mangle")).toEqual([]);
    expect(sim.stats().writes).toBeGreaterThan(20);
  });
});
