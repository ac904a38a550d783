/**
 * examples/linux-weighted-failover as a real Pulumi program, driven by the real Pulumi CLI (file backend),
 * against the Linux namespace lab (a real kernel, nftables and iproute2, reached over a real sshd): preview,
 * up, up again, preview --diff of a change, refresh after drift, repair, invalid arguments, secrets at rest,
 * destroy. Needs root (CI runs as root); anywhere else it is skipped with a loud banner.
 *
 * The tests run in order and build on each other (one lab, one stack).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isRoot } from "../skip";
import { createLab, ensureLabDeps, type GatewaySnapshot, type Lab } from "../../labs/linux-lab";
import { exampleConfig } from "../linux/support";
import {
  COMMAND_TIMEOUT_MS,
  ENSURE_TIMEOUT_MS,
  Engine,
  REPO,
  banner,
  changedElements,
  engineDescribe,
  gatewayState,
  isElementLine,
  printTimings,
  progressLines,
  requireBuiltPackage,
  ruleLines,
  type RunResult,
  type Stack,
} from "./support";

const EXAMPLE = "linux-weighted-failover";
const DIR = path.join(REPO, "examples", EXAMPLE);
/** The example's source: which config keys it reads decides what some tests do (see below). */
const exampleSource = ["index.ts", "gateway.ts"]
  .map((f) => path.join(DIR, f))
  .filter((f) => fs.existsSync(f))
  .map((f) => fs.readFileSync(f, "utf8"))
  .join("\n");
/** Whether the example reads a weight from config (then the change under test is a weight change). */
const HAS_WEIGHT_CONFIG = exampleSource.includes('"link1Weight"');
/** The example's resource is named "gw", which is its owner tag. */
const OWNER = "gw";
/** The provider's files on the gateway (the lab gives each gateway private copies of these dirs). */
const OWNER_DIRS = [`/usr/local/lib/lbgw/${OWNER}`, `/run/lbgw/${OWNER}`];

/** A distro-like firewall and a rule in the provider's priority range pointing at a foreign table. */
const FOREIGN_NFT = `table inet distro {
  chain input { type filter hook input priority 0; policy accept; ct state established,related accept; }
}
`;
const FOREIGN_RULE = ["ip", "rule", "add", "pref", "10050", "from", "192.0.2.0/24", "lookup", "200"];

/** What the tests compare of the gateway (see `snapshot` below). */
type Observed = Omit<GatewaySnapshot, "processes"> & { prober?: number };

if (!isRoot)
  banner([
    "SKIPPED: engine tests of examples/linux-weighted-failover need root (the namespace lab)",
    "CI runs as root: there they run.",
  ]);
const suite = isRoot ? engineDescribe("Linux example under the real Pulumi engine") : describe.skip;

jest.setTimeout(4 * COMMAND_TIMEOUT_MS);

suite("linux-weighted-failover under the real Pulumi engine, on the namespace lab", () => {
  let engine: Engine;
  let lab: Lab;
  let stack: Stack;
  let baseline: Observed;
  let baselineProcesses: string;
  const printed: string[] = [];
  const keep = (r: RunResult): RunResult => (printed.push(r.output), r);

  /**
   * The gateway's state without what the prober changes at run time: the elements of its maps (a link going
   * up or down is its job, not a write of the provider) and its short-lived children (sleep, ping, subshells);
   * instead of the process list, the prober's supervisor pid: the same pid means it was not restarted.
   */
  const snapshot = async (): Promise<Observed> => {
    const { processes: _running, ...snap } = await lab.snapshot();
    return {
      ...snap,
      nft: snap.nft.replace(/(\bmap (?:slots|live|sticky) \{[^}]*?elements = \{)[^}]*\}/g, "$1 … }"),
      prober: await proberPid(),
    };
  };
  const gw = async (argv: string[]) => (await lab.exec("gw", argv, { check: true })).stdout;
  const ownedTable = async () =>
    (await lab.exec("gw", ["nft", "list", "table", "inet", `lbgw_${OWNER}`])).stdout;
  /** Runs a shell command on the gateway, where its SSH sessions run (its own /run and /usr/local/lib). */
  const onGw = async (script: string) => (await lab.exec("gw", ["sh", "-c", script])).stdout.trim();
  /** The pid of the prober's supervisor, if it runs (its pid file and its command line agree). */
  const proberPid = async (): Promise<number | undefined> => {
    const out = await onGw(
      `pid=$(cat /run/lbgw/${OWNER}/pid 2>/dev/null) && tr '\\0' ' ' </proc/$pid/cmdline | ` +
        `grep -q 'lbgw/${OWNER}/prober.sh' && echo "$pid"`,
    );
    return /^\d+$/.test(out) ? Number(out) : undefined;
  };
  /** For failure messages: the prober's pid file and the end of its log. */
  const proberDiagnosis = () =>
    onGw(`echo "pid file: $(cat /run/lbgw/${OWNER}/pid 2>&1)"; tail -n 15 /run/lbgw/${OWNER}/log 2>&1`);
  const keyLines = () =>
    lab.ssh.privateKey
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.length >= 20 && !l.startsWith("-----"));

  beforeAll(async () => {
    requireBuiltPackage(path.join("examples", EXAMPLE));
    engine = await Engine.create();
    await ensureLabDeps();
    lab = await createLab({ uplinks: 2, clients: 4, label: "test/engine/linux.test.ts" });
    await lab.exec("gw", ["nft", "-f", "-"], { check: true, input: FOREIGN_NFT });
    await lab.exec("gw", FOREIGN_RULE, { check: true });
    baseline = await snapshot();
    baselineProcesses = (await lab.snapshot()).processes;
    stack = await engine.stack(DIR, EXAMPLE);
    const { config, secrets } = exampleConfig(lab);
    await stack.setAll(config, secrets);
  }, ENSURE_TIMEOUT_MS);

  afterAll(async () => {
    printTimings("Linux engine tests");
    // the gateway's files live in its own tmpfs: the lab's teardown removes them with its prober
    if (lab) await lab.destroy();
    await engine?.dispose();
  }, 120_000);

  test("preview of the new stack lists the rule lines to create and touches nothing", async () => {
    const r = keep(await stack.preview(["--diff"]));
    expect(r.output).toMatch(/\+ 2 to create/);
    expect(r.output).toContain(`nft table inet lbgw_${OWNER}`);
    expect(r.output).toMatch(/target\s*: \[secret\]/);
    expect(await snapshot()).toEqual(baseline);
  });

  test("up applies: nft table, rules, routes and prober on the gateway; foreign entries intact; progress shown", async () => {
    const r = keep(await stack.up());
    expect(r.output).toMatch(/\+ 2 created/);
    const state = await gatewayState(stack);
    const lines = ruleLines(state.outputs.rules);
    expect(lines).toEqual(ruleLines(state.inputs.rules)); // the gateway holds what the program asks for
    expect(lines.length).toBeGreaterThan(30);
    expect(state.outputs.device).toBe(`linux://${lab.ssh.host}:${lab.ssh.port}`);
    const outputs = await stack.outputs();
    expect(outputs.ownedEntries).toBe(lines.length);
    // on the gateway itself
    expect(await ownedTable()).toContain("numgen inc mod 4");
    expect(await gw(["ip", "rule", "show"])).toMatch(/^10101:\s+from all fwmark 0x101 lookup 101/m);
    expect(await gw(["ip", "route", "show", "table", "101"])).toContain(
      `default via ${lab.addresses.uplinks[0].gateway}`,
    );
    if ((await proberPid()) === undefined)
      throw new Error(`the prober does not run after up:\n${await proberDiagnosis()}`);
    // foreign configuration untouched
    expect(await gw(["nft", "list", "table", "inet", "distro"])).toContain(
      "ct state established,related accept",
    );
    expect(await gw(["ip", "rule", "show"])).toMatch(/^10050:\s+from 192\.0\.2\.0\/24 lookup 200/m);
    // the provider's steps, live while the resource is created and in the Diagnostics summary
    const live = r.output.slice(r.output.indexOf("Updating ("), r.output.lastIndexOf("Diagnostics:"));
    expect(live).toMatch(/creating \(\d+s\) lbgw: connecting to root@/);
    expect(progressLines(r.output)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^connecting to root@${lab.ssh.host}:${lab.ssh.port}`)),
        expect.stringMatching(/: updating /),
        expect.stringMatching(
          new RegExp(`^linux://.*: \\d+ write\\(s\\), ${lines.length} owned entries verified`),
        ),
      ]),
    );
  });

  test("a second up reports no changes and does not touch the gateway", async () => {
    const before = await snapshot();
    const r = keep(await stack.up("up (unchanged)"));
    expect(r.output).toMatch(/Resources:\s+2 unchanged/);
    expect(r.output).not.toMatch(/to update|updated|created|deleted/);
    // the provider never connected (nothing to do), so nothing was written
    expect(progressLines(r.output)).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });

  test(`preview --diff of ${HAS_WEIGHT_CONFIG ? "link1Weight 1" : "sticky true"} prints the changed rule lines; up applies them`, async () => {
    const before = await snapshot();
    let expected: string[];
    if (HAS_WEIGHT_CONFIG) {
      // 3:1 → 1:1: two slots instead of four
      await stack.setConfig("link1Weight", "1");
      expected = ["numgen inc mod 2"];
    } else {
      banner([
        `NOTE: examples/${EXAMPLE} reads no weight from config: the rule-level diff is shown with`,
        "`sticky true` instead of a weight change (see test/engine/linux.test.ts)",
      ]);
      await stack.setConfig("sticky", "true");
      expected = ["map sticky {", "update @sticky"];
    }
    const r = keep(await stack.preview(["--diff"], { step: "preview --diff (change)" }));
    expect(r.output).toMatch(/~ 1 to update/);
    expect(r.output).toMatch(/~ rules\s*: [[{]/);
    const changed = changedElements(r.output);
    for (const s of expected) expect(changed.some((l) => l.includes(s))).toBe(true);
    expect(await snapshot()).toEqual(before); // a preview never writes

    const u = keep(await stack.up("up (change)"));
    expect(u.output).toMatch(/~ 1 updated/);
    const table = await ownedTable();
    if (HAS_WEIGHT_CONFIG) expect(table).toContain("numgen inc mod 2");
    else expect(table).toMatch(/map sticky \{/);
    const state = await gatewayState(stack);
    expect(ruleLines(state.outputs.rules)).toEqual(ruleLines(state.inputs.rules));
  });

  test("a rule removed by hand shows up in refresh, and the next up repairs it", async () => {
    const victim = ["ip", "rule", "del", "pref", "10300"];
    const line = ruleLines((await gatewayState(stack)).outputs.rules).find((l) =>
      l.startsWith("ip rule pref 10300 "),
    );
    expect(line).toBeDefined();
    await gw(victim);
    expect(await gw(["ip", "rule", "show"])).not.toMatch(/^10300:/m);

    const r = keep(await stack.refresh("refresh --diff", ["--diff"]));
    expect(r.output).toMatch(/~ 1 updated/);
    const shown = r.output
      .split("\n")
      .find((l) => /^\s*[~-] /.test(l) && isElementLine(l) && l.includes(`"${line}"`));
    expect(shown).toBeDefined();
    const refreshed = ruleLines((await gatewayState(stack)).outputs.rules);
    expect(refreshed).not.toContain(line);

    const u = keep(await stack.up("up (repair)"));
    expect(u.output).toMatch(/~ 1 updated/);
    expect(await gw(["ip", "rule", "show"])).toMatch(/^10300:\s+from all iif lo lookup 101/m);
    const repaired = await gatewayState(stack);
    expect(ruleLines(repaired.outputs.rules)).toContain(line);
  });

  test("invalid arguments fail preview with the property and the reason", async () => {
    const before = await snapshot();
    await stack.setConfig("lanNetwork", "192.168.0.0/33");
    const r = keep(await stack.preview([], { allowFailure: true, step: "preview (invalid)" }));
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("lan.networks[0]");
    expect(r.output).toContain("must be an IPv4 address or prefix");
    expect(await snapshot()).toEqual(before);
    await stack.setConfig("lanNetwork", lab.addresses.lanNet);
    const p = keep(await stack.preview([], { step: "preview (valid again)" }));
    expect(p.output).toMatch(/Resources:\s+2 unchanged/);
  });

  test("the state holds the SSH private key only encrypted", async () => {
    const secretLines = keyLines();
    expect(secretLines.length).toBeGreaterThan(0);
    const atRest = engine.backendText();
    expect(atRest).toContain(`lbgw_${OWNER}`); // the state is there
    expect(atRest).toContain("ciphertext");
    const exported = await stack.exportState();
    const config = fs.readFileSync(stack.configFile, "utf8");
    expect(config).toContain("secure:");
    for (const l of secretLines) {
      expect(atRest).not.toContain(l);
      expect(exported).not.toContain(l);
      expect(config).not.toContain(l);
      expect(printed.join("\n")).not.toContain(l);
    }
  });

  test("destroy leaves nothing owned on the gateway and the foreign entries intact", async () => {
    const r = keep(await stack.destroy());
    expect(r.output).toMatch(/- 2 deleted/);
    expect(progressLines(r.output)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^connecting to root@/)]),
    );
    expect((await lab.exec("gw", ["nft", "list", "table", "inet", `lbgw_${OWNER}`])).code).not.toBe(0);
    expect(await proberPid()).toBeUndefined();
    for (const dir of OWNER_DIRS)
      expect(await onGw(`test -e ${dir} && echo present || echo absent`)).toBe("absent");
    // back to the gateway as it was: foreign table and rule, routes, sysctls, no processes of ours
    expect(await snapshot()).toEqual(baseline);
    expect((await lab.snapshot()).processes).toBe(baselineProcesses);
    for (const l of keyLines()) expect(printed.join("\n")).not.toContain(l);
  });
});
