/**
 * `lbgw render`: the printed RouterOS script is replayed, line by line, into the simulator (which validates
 * every property like a router), after which the provider sees a converged device: the script is exactly
 * what the provider would apply.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { main } from "../../cli/lbgw";
import * as provider from "../../provider/index";
import { seedNthSticky } from "../fixtures/specs";
import { RawRosClient } from "../../labs/routeros-sim";
import { scriptToCommands, seedRouter, targetOf } from "../routeros/support";

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(
    argv,
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}

function specFile(content: unknown, ext = "json"): string {
  const dir = mkdtempSync(join(tmpdir(), "lbgw-cli-"));
  const file = join(dir, `spec.${ext}`);
  writeFileSync(file, ext === "json" ? JSON.stringify(content) : stringify(content));
  return file;
}

const { target: _t, ...spec } = seedNthSticky();

describe("lbgw render", () => {
  test.each(["6.49.10", "7.16.2"])(
    "the RouterOS %s script applies cleanly and equals what the provider applies",
    async (version) => {
      const major = version.split(".")[0];
      const r = await run(
        "render",
        "--spec",
        specFile(spec, "yaml"),
        "--target",
        "routeros",
        "--ros-version",
        major,
      );
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^\/ip firewall mangle$/m);
      expect(r.out).toMatch(/^add chain=prerouting action=jump .*nth=2,1 .*comment=lbgw:gw:classify:1$/m);
      expect(r.out.includes("/routing table")).toBe(major === "7");

      const sim = await seedRouter(version);
      const client = await RawRosClient.connect({ host: sim.host, port: sim.port });
      try {
        await client.login("admin", "s3cret");
        for (const words of scriptToCommands(r.out)) {
          const result = await client.command(words);
          expect({ words, traps: result.traps }).toEqual({ words, traps: [] });
        }
        const checked = await provider.check({}, { ...spec, target: targetOf(sim) } as Record<
          string,
          unknown
        >);
        const read = await provider.read("id", checked.inputs);
        expect(read.props?.rules).toEqual(checked.inputs.rules);
      } finally {
        await client.close();
        await sim.close();
      }
    },
  );

  test("--holder writes the claim of the resource that will import the configuration, on both targets", async () => {
    const holder = ["--holder", "site/prod/office"];
    const ros = await run("render", "--spec", specFile(spec), "--target", "routeros", ...holder);
    expect(ros.out).toMatch(
      /^add name=lbgw-gw-lan comment="lbgw:gw:lan instance=[0-9a-f]{12} holder=site\/prod\/office"$/m,
    );
    const linux = await run("render", "--spec", specFile(spec), "--target", "linux", ...holder);
    expect(linux.out).toMatch(
      /^printf '%s\\n' 'instance=[0-9a-f]{12} holder=site\/prod\/office' > \/usr\/local\/lib\/lbgw\/gw\/claim$/m,
    );
    // without it, no claim: the first up after an import writes it
    expect((await run("render", "--spec", specFile(spec), "--target", "linux")).out).not.toContain("/claim");
  });

  test("an invalid spec: the property path and the reason, non-zero exit", async () => {
    const bad = { ...spec, links: [{ ...spec.links[0], weight: 0 }, spec.links[1]] };
    const r = await run("render", "--spec", specFile(bad), "--target", "routeros");
    expect(r.code).toBe(1);
    expect(r.err).toContain("links[0].weight: weight must be a whole number from 1 to 100");
    expect(r.out).toBe("");
  });

  test("usage errors", async () => {
    expect((await run("render", "--target", "routeros")).code).toBe(2);
    expect((await run("render", "--spec", "/nonexistent.json", "--target", "routeros")).err).toMatch(
      /cannot read spec/,
    );
    expect((await run("render", "--spec", specFile(spec), "--target", "junos")).err).toMatch(
      /routeros or linux/,
    );
  });
});
