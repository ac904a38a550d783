/**
 * Life-cycle safety under the real Pulumi engine, as a user meets it: Pulumi projects in a temp dir outside
 * the repository, each installing the packed package (`npm pack`) with plain `npm install`.
 *
 * - a copy of examples/routeros-nth-sticky (the examples install and run when copied out);
 * - test/engine/user-project (a user's program: an `Output<string>` gateway, api-ssl, a twin, a second owner);
 * - a copy of examples/automation-fleet (three sites in parallel through the Automation API);
 * - a copy of examples/linux-weighted-failover (as root, on the namespace lab, with a TCP stream through it).
 *
 * What it shows: respelling the device (IP ↔ name, api ↔ api-ssl) replaces the resource in place, the owned
 * entries unchanged and (Linux) the NAT stream never interrupted; a second stack, or a second resource of one
 * stack, claiming the owner is refused and its destroy leaves the first intact; an unknown input on an
 * existing gateway previews as an update; each preflight error; the fleet.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isRoot } from "../skip";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { selfSignedCert } from "../../labs/routeros-sim/self-signed";
import { createLab, ensureLabDeps, type Lab } from "../../labs/linux-lab";
import { menusOf, seedRouter, writesSince } from "../routeros/support";
import { Stream, exampleConfig, hostsName, streamRetransmissions } from "../linux/support";
import {
  COMMAND_TIMEOUT_MS,
  ENSURE_TIMEOUT_MS,
  Engine,
  REPO,
  banner,
  engineDescribe,
  gatewayState,
  requireBuiltPackage,
  ruleLines,
  run,
  type Stack,
} from "./support";

const PASSWORD = "Lc-7h2p-secret";

jest.setTimeout(6 * COMMAND_TIMEOUT_MS);

const suite = engineDescribe("Life-cycle safety under the real Pulumi engine");

/** Every owned entry on the router (any owner), by menu, without ids: what must survive a replace. */
const ownedOn = (sim: RouterOsSim) =>
  menusOf(sim).map((m) =>
    sim
      .entries(m)
      .filter((e) => (e.comment ?? "").startsWith("lbgw:"))
      .map(({ ".id": _id, comment, ...rest }) => ({ ...rest, key: (comment ?? "").split(" ")[0] })),
  );
const countOf = (owned: ReturnType<typeof ownedOn>) => owned.reduce((n, m) => n + m.length, 0);
/** The claim (instance and holder) in the comment of the owner's LAN interface list. */
const claimOn = (sim: RouterOsSim, owner: string) =>
  sim.entries("/interface/list").find((e) => (e.comment ?? "").startsWith(`lbgw:${owner}:lan `))?.comment;

suite("Life-cycle safety under the real Pulumi engine", () => {
  let engine: Engine;
  /** The temp dir outside the repository holding the tarball and the user's projects. */
  let home: string;
  let tarball: string;

  /** Copies a program dir out of the repository and installs it as a user would (its own package.json). */
  async function project(from: string, name: string): Promise<string> {
    const dir = path.join(home, name);
    fs.cpSync(from, dir, {
      recursive: true,
      filter: (f) => !/node_modules|Pulumi\.[^/]+\.yaml$|package-lock\.json$/.test(path.relative(from, f)),
    });
    const pkgFile = path.join(dir, "package.json");
    const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8")) as { dependencies: Record<string, string> };
    expect(pkg.dependencies["pulumi-loadbalanced-gateway"]).toMatch(/^file:/);
    pkg.dependencies["pulumi-loadbalanced-gateway"] = `file:${tarball}`;
    fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
    const r = await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], {
      cwd: dir,
      env: engine.env,
      timeoutMs: 5 * 60_000,
    });
    if (r.code !== 0) throw new Error(`npm install in ${dir} failed:\n${r.output}`);
    return dir;
  }

  beforeAll(async () => {
    requireBuiltPackage(path.join("examples", "routeros-nth-sticky"));
    engine = await Engine.create();
    home = fs.mkdtempSync(path.join(os.tmpdir(), "lbgw-user."));
    const packed = execFileSync("npm", ["pack", "--silent", "--pack-destination", home], {
      cwd: REPO,
      encoding: "utf8",
    });
    tarball = path.join(home, packed.trim().split("\n").pop() as string);
    expect(fs.existsSync(tarball)).toBe(true);
  }, ENSURE_TIMEOUT_MS);

  afterAll(async () => {
    await engine?.dispose();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  }, 120_000);

  describe("the copied example on RouterOS 7: respelt, claimed twice", () => {
    let sim: RouterOsSim;
    let dir: string;
    let first: Stack;

    beforeAll(async () => {
      sim = await seedRouter("7.16.2", PASSWORD);
      dir = await project(path.join(REPO, "examples/routeros-nth-sticky"), "routeros-nth-sticky");
      first = await engine.stack(dir, "site");
      await first.setAll(
        { routerHost: "127.0.0.1", routerPort: sim.port, routerUser: "admin" },
        { routerPassword: PASSWORD },
      );
    }, 10 * 60_000);
    afterAll(async () => sim?.close());

    test("the example, copied out and installed from the tarball, type-checks and comes up", async () => {
      execFileSync(path.join(dir, "node_modules/.bin/tsc"), ["--noEmit", "-p", dir]);
      await first.up();
      expect(countOf(ownedOn(sim))).toBe((await first.outputs()).ownedEntries);
      expect(claimOn(sim, "office")).toMatch(
        new RegExp(`^lbgw:office:lan instance=[0-9a-f]{12} holder=routeros-nth-sticky/${first.name}/office$`),
      );
    });

    test("127.0.0.1 respelt as localhost: a replace in place, no entry removed or rewritten", async () => {
      const before = ownedOn(sim);
      const claimBefore = claimOn(sim, "office");
      const from = sim.log.length;
      await first.setConfig("routerHost", "localhost");
      const preview = await first.preview(["--diff"], { step: "preview (respelt)" });
      expect(preview.output).toMatch(/\+-\s*pulumi-nodejs:dynamic\/lbgw:LoadBalancedGateway: \(replace\)/);
      const r = await first.up("up (respelt)");
      expect(r.output).toMatch(/\+-1 replaced/);
      expect(ownedOn(sim)).toEqual(before);
      // The only write: the claim passed to the new instance. The old instance's delete removed nothing.
      expect(writesSince(sim, from)).toEqual([expect.stringMatching(/^\/interface\/list\/set /)]);
      expect(claimOn(sim, "office")).not.toBe(claimBefore);
      expect(r.output).toMatch(/is held by resource routeros-nth-sticky\/.*nothing removed/);
      expect((await first.outputs()).device).toBe(`routeros://localhost:${sim.port}`);
    });

    test("a second stack claiming the owner is refused before any write; its destroy leaves the first intact", async () => {
      const before = ownedOn(sim);
      const from = sim.log.length;
      const second = await engine.stack(dir, "other-site");
      await second.setAll(
        { routerHost: "127.0.0.1", routerPort: sim.port, routerUser: "admin" },
        { routerPassword: PASSWORD },
      );
      const r = await second.up("up (second stack)").catch((e: { result: { output: string } }) => e.result);
      expect(r.output).toMatch(
        new RegExp(
          `owner "office" on routeros://127\\.0\\.0\\.1:${sim.port} is held by resource ` +
            `routeros-nth-sticky/${first.name}/office \\(instance [0-9a-f]{12}\\)`,
        ),
      );
      expect(writesSince(sim, from)).toEqual([]);
      await second.destroy("destroy (second stack)");
      expect(ownedOn(sim)).toEqual(before);
      await first.destroy();
      expect(countOf(ownedOn(sim))).toBe(0);
    });
  });

  describe("a user's program on RouterOS 7 (test/engine/user-project)", () => {
    let sim: RouterOsSim;
    let stack: Stack;

    beforeAll(async () => {
      sim = await seedRouter("7.16.2", PASSWORD, { apiSsl: await selfSignedCert() });
      const dir = await project(path.join(REPO, "test/engine/user-project"), "user-project");
      // `gateway: isp.gateway` (an Output<string>) type-checks against the packed package's declarations
      execFileSync(path.join(dir, "node_modules/.bin/tsc"), ["--noEmit", "-p", dir]);
      stack = await engine.stack(dir, "user");
      await stack.setAll({ routerHost: "127.0.0.1", routerPort: sim.port }, { routerPassword: PASSWORD });
      await stack.up();
    }, 10 * 60_000);
    afterAll(async () => sim?.close());

    test("an unknown link gateway (its resource being replaced) previews as an update, then updates in place", async () => {
      const before = countOf(ownedOn(sim));
      const instance = (await stack.outputs()).instance;
      const naming = async (gw: string) =>
        ruleLines((await gatewayState(stack)).outputs.rules).filter((l) => l.includes(`gateway=${gw} `));
      const viaOld = (await naming("10.112.0.1")).length;
      expect(viaOld).toBeGreaterThan(0);
      await stack.setConfig("ispGateway", "10.112.0.254");
      const preview = await stack.preview(["--diff"], { step: "preview (unknown gateway)" });
      expect(preview.output).toMatch(/~\s*pulumi-nodejs:dynamic\/lbgw:LoadBalancedGateway: \(update\)/);
      expect(preview.output).not.toMatch(/lbgw:LoadBalancedGateway: \(replace\)/);
      expect(preview.output).toMatch(/~ 1 to update/);
      const r = await stack.up("up (new gateway)");
      expect(r.output).toMatch(/~ 1 updated/);
      expect(countOf(ownedOn(sim))).toBe(before);
      expect((await stack.outputs()).instance).toBe(instance);
      // every entry through wlan1's gateway now names the new one (its probe route and default routes)
      expect(await naming("10.112.0.1")).toEqual([]);
      expect(await naming("10.112.0.254")).toHaveLength(viaOld);
    });

    test("api respelt as api-ssl: a replace in place, the entries unchanged", async () => {
      const before = ownedOn(sim);
      await stack.setConfig("tlsPort", String(sim.tlsPort));
      const r = await stack.up("up (api-ssl)");
      expect(r.output).toMatch(/\+-1 replaced/);
      expect(ownedOn(sim)).toEqual(before);
      expect((await stack.outputs()).device).toBe(`routeros://127.0.0.1:${sim.tlsPort}`);
    });

    test("two resources of one stack with one owner: the second is refused, the first untouched", async () => {
      const before = ownedOn(sim);
      await stack.setConfig("twin", "true");
      const r = await stack.up("up (twin)").catch((e: { result: { output: string } }) => e.result);
      expect(r.output).toMatch(
        /owner "office" on routeros:\/\/.* is held by resource lbgw-user\/.*\/office \(/,
      );
      expect(ownedOn(sim)).toEqual(before);
      await stack.setConfig("twin", "false");
    });

    test("preflight: each mismatch with the router is named, before any write", async () => {
      const before = ownedOn(sim);
      const from = sim.log.length;
      await stack.setConfig("wlan1Interface", "ether-missing");
      await stack.setConfig("wlan2Gateway", "8.8.8.8");
      const bad = await stack.up("up (preflight)").catch((e: { result: { output: string } }) => e.result);
      expect(bad.output).toMatch(
        /links\[0\] \("wlan1"\)\.interface: interface "ether-missing" does not exist on routeros:\/\/\S+ \(it has .*wlan1/,
      );
      expect(bad.output).toMatch(
        /links\[1\] \("wlan2"\)\.gateway: 8\.8\.8\.8 is outside every subnet on wlan2 \(10\.111\.0\.2\/24\)/,
      );
      await stack.setConfig("wlan1Interface", "wlan1");
      await stack.setConfig("wlan2Gateway", "10.111.0.1");
      await stack.setConfig("secondOwner", "true");
      const second = await stack
        .up("up (second owner)")
        .catch((e: { result: { output: string } }) => e.result);
      expect(second.output).toMatch(/routerTraffic: owner "office" already routes the router's own traffic/);
      expect(writesSince(sim, from)).toEqual([]);
      expect(ownedOn(sim)).toEqual(before);
      await stack.setConfig("secondOwner", "false");
      await stack.destroy();
      expect(countOf(ownedOn(sim))).toBe(0);
    });
  });

  test("an Automation API fleet of three sites, run in parallel (examples/automation-fleet)", async () => {
    const sims = await Promise.all(["7.16.2", "7.16.2", "6.49.10"].map((v) => seedRouter(v, PASSWORD)));
    try {
      const dir = await project(path.join(REPO, "examples/automation-fleet"), "automation-fleet");
      const sites = sims.map((sim, i) => ({
        name: ["paris", "lyon", "nantes"][i],
        host: sim.host,
        port: sim.port,
        password: PASSWORD,
        version: sim.version.major,
        lan: { interfaces: ["Local"], networks: ["192.168.0.0/24"] },
        links: [
          { name: "wlan1", interface: "wlan1", gateway: "10.112.0.1", check: { targets: ["198.51.100.1"] } },
          { name: "wlan2", interface: "wlan2", gateway: "10.111.0.1", check: { targets: ["198.51.100.2"] } },
        ],
      }));
      const file = path.join(home, "sites.json");
      fs.writeFileSync(file, JSON.stringify(sites));
      const fleet = (action: string) =>
        run(path.join(dir, "node_modules/.bin/tsx"), ["fleet.ts", action, file], {
          cwd: dir,
          env: engine.env,
          timeoutMs: 5 * 60_000,
        });
      const up = await fleet("up");
      if (up.code !== 0) throw new Error(`fleet up failed:\n${up.output}`);
      for (const [i, sim] of sims.entries()) {
        const owned = ownedOn(sim);
        expect(countOf(owned)).toBeGreaterThan(20);
        expect(up.stdout).toContain(
          `${sites[i].name}: succeeded, ${countOf(owned)} owned entries on routeros://${sim.host}:${sim.port}`,
        );
        expect(claimOn(sim, sites[i].name)).toContain(`holder=lbgw-fleet/${sites[i].name}/${sites[i].name}`);
      }
      const down = await fleet("destroy");
      if (down.code !== 0) throw new Error(`fleet destroy failed:\n${down.output}`);
      for (const sim of sims) expect(countOf(ownedOn(sim))).toBe(0);
    } finally {
      await Promise.all(sims.map((s) => s.close()));
    }
  });

  const linux = isRoot ? describe : describe.skip;
  if (!isRoot)
    banner([
      "SKIPPED: the Linux life-cycle engine test needs root (the namespace lab)",
      "CI runs as root: there it runs.",
    ]);

  linux("the copied Linux example: the gateway's address respelt as a name", () => {
    let lab: Lab;
    let dir: string;
    let stack: Stack;
    let respelt: ReturnType<typeof hostsName> | undefined;
    let stream: Stream | undefined;
    const configure = async (s: Stack) => {
      const { config, secrets } = exampleConfig(lab);
      await s.setAll(config, secrets);
    };
    const owned = async () => ruleLines((await gatewayState(stack)).outputs.rules);

    beforeAll(async () => {
      await ensureLabDeps();
      lab = await createLab({ uplinks: 2, clients: 1, label: "test/engine/lifecycle.test.ts" });
      dir = await project(path.join(REPO, "examples/linux-weighted-failover"), "linux-weighted-failover");
      stack = await engine.stack(dir, "linux-site");
      await configure(stack);
    }, 10 * 60_000);

    afterAll(async () => {
      stream?.stop();
      respelt?.remove();
      if (lab) await lab.destroy();
    }, 120_000);

    test("replaced in place: the owned configuration unchanged, the NAT stream never interrupted", async () => {
      await stack.up();
      const port = 7811;
      stream = await Stream.through(lab, port);
      const before = await owned();

      respelt = hostsName(lab, "test/engine/lifecycle.test.ts");
      await stack.setConfig("gatewayHost", respelt.name);
      const r = await stack.up("up (respelt)");
      expect(r.output).toMatch(/\+-1 replaced/);
      const refreshed = await stack.refresh("refresh (respelt)");
      expect(refreshed.output).not.toMatch(/~ 1 updated|deleted/);
      expect(await owned()).toEqual(before);
      expect({ closed: stream.closed, retrans: await streamRetransmissions(lab, port) }).toEqual({
        closed: false,
        retrans: 0,
      });
      expect(stream.worstSinceLast()).toBeLessThan(1000);

      const second = await engine.stack(dir, "linux-other");
      await configure(second);
      const refused = await second
        .up("up (second stack)")
        .catch((e: { result: { output: string } }) => e.result);
      expect(refused.output).toMatch(
        /owner "gw" on linux:\/\/.* is held by resource linux-weighted-failover\//,
      );
      await second.destroy("destroy (second stack)");
      await stack.refresh("refresh (after second destroy)");
      expect(await owned()).toEqual(before);
      expect(stream.closed).toBe(false);
      await stack.destroy();
    });
  });
});
