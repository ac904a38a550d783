/**
 * Live link status on the namespace lab (real kernel, real sshd, real traffic): `readLinuxStatus` and
 * `lbgw status` before an upstream failure beyond ISP 1's router, during it and after recovery. Connections
 * held open through each uplink (which one is known from the address the server saw) must be counted on
 * that uplink, and the sticky users by link.
 */
import type { ChildProcess, ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../cli/lbgw";
import { check, diff, read } from "../../provider/index";
import type { GatewayStatus } from "../../provider/common/status";
import { readLinuxStatus } from "../../provider/linux/status";
import { linuxTarget } from "../../provider/linux/backend";
import { buildPlan } from "../../provider/plan/plan";
import type { Spec } from "../../provider/spec/schema";
import { createLab, ensureLabDeps, type Lab } from "../../labs/linux-lab";
import { exampleArgs, labBackend, labSpec, labTarget, rootSuite, tcpConnection, tcpServer } from "./support";

const suite = rootSuite("Linux link status lab tests");
jest.setTimeout(120_000);

const log = (m: string) => void m;

suite("lbgw status on the namespace lab", () => {
  let lab: Lab;
  let spec: Spec;
  let up1: string;
  let up2: string;
  const children: ChildProcess[] = [];
  const held: Array<{ from: string; seen: string; proc: ChildProcessWithoutNullStreams }> = [];
  const port = 7790;

  const specArgs = () => exampleArgs(lab, { weights: [1, 1], sticky: { timeout: "1h" } });
  const status = () => readLinuxStatus(linuxTarget(spec), buildPlan(spec));
  const link = (s: GatewayStatus, name: string) => s.links.find((l) => l.link === name)!;
  const waitFor = async (what: string, ok: () => Promise<boolean>, limitMs: number) => {
    for (const start = Date.now(); Date.now() - start < limitMs;) {
      if (await ok()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  /** A connection from `from` kept open; resolves with the uplink address the server saw. */
  const hold = async (from: string) => {
    const proc = tcpConnection(lab.ns.lan, from, lab.addresses.server, port);
    children.push(proc);
    const seen = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer on the connection from ${from}`)), 5000);
      proc.stdout.once("data", (d: Buffer) => (clearTimeout(t), resolve(d.toString().split("\n")[0])));
    });
    held.push({ from, seen, proc });
    return seen;
  };
  /** Open connections per uplink address, and distinct users per uplink of their first connection. */
  const heldOn = (addr: string) => held.filter((h) => h.seen === addr && h.proc.exitCode === null).length;

  beforeAll(async () => {
    await ensureLabDeps();
    lab = await createLab({ uplinks: 2, clients: 12, label: "test/linux/status.test.ts" });
    [up1, up2] = lab.addresses.uplinks.map((u) => u.address);
    spec = labSpec(lab, `s${lab.id}`, specArgs());
    await (await labBackend(spec)).apply(log);
    children.push(await tcpServer(lab.ns.inet, port, "SYSTEM:echo $SOCAT_PEERADDR; exec cat"));
  }, 600_000);

  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    if (lab) await lab.destroy();
  }, 120_000);

  let before: GatewayStatus;

  test("before a failure: both links up, probes ok, held connections and sticky users counted per link", async () => {
    // Probes run every 300 ms: wait for the prober's first rounds, then start from an empty conntrack table.
    await waitFor(
      "the first probes",
      async () => (await status()).links.every((l) => l.lastProbe === "ok"),
      5000,
    );
    await lab.exec("gw", ["conntrack", "-F"]);
    for (const from of lab.addresses.clients.slice(0, 8)) await hold(from);
    for (const from of lab.addresses.clients.slice(0, 8)) await hold(from); // a second one per user
    expect(heldOn(up1)).toBeGreaterThan(0);
    expect(heldOn(up2)).toBeGreaterThan(0);
    before = await status();
    const [l1, l2] = [link(before, "link1"), link(before, "link2")];
    expect(before.notes).toEqual([]);
    expect(l1).toMatchObject({ up: true, lastProbe: "ok", source: "prober", connections: heldOn(up1) });
    expect(l2).toMatchObject({ up: true, lastProbe: "ok", source: "prober", connections: heldOn(up2) });
    // Sticky: each user's connections share its link, so users per link = connections per link / 2.
    expect(l1.stickyUsers).toBe(heldOn(up1) / 2);
    expect(l2.stickyUsers).toBe(heldOn(up2) / 2);
    expect(Date.parse(l1.since!)).toBeLessThanOrEqual(Date.parse(before.readAt));
  });

  test("during an upstream failure beyond ISP 1: link1 down since the failure, probes failed, new connections on link2", async () => {
    const failedAt = Date.now();
    await lab.failUpstream(1);
    let during!: GatewayStatus;
    await waitFor(
      "link1 down in the status",
      async () => (during = await status()).links[0].up === false,
      10_000,
    );
    const l1 = link(during, "link1");
    expect(l1.lastProbe).toBe("failed");
    // Since: the moment the prober marked it down (seconds, device clock = this machine's clock).
    expect(Date.parse(l1.since!)).toBeGreaterThanOrEqual(Math.floor(failedAt / 1000) * 1000);
    expect(link(during, "link2")).toMatchObject({ up: true, lastProbe: "ok" });
    // The prober forgot link1's users; their next connections, like new users', go to link2.
    expect(l1.stickyUsers).toBe(0);
    for (const from of lab.addresses.clients.slice(8, 12)) expect(await hold(from)).toBe(up2);
    const now = await status();
    // Established connections keep their uplink's mark: still counted there.
    expect(link(now, "link1").connections).toBe(heldOn(up1));
    expect(link(now, "link2").connections).toBe(heldOn(up2));
    expect(link(now, "link2").stickyUsers).toBe(before.links[1].stickyUsers! + 4);

    // A refresh (the provider's read) during the outage: linkStatus says so, and it is no diff.
    const quiet = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const { inputs } = await check(
        {},
        { ...specArgs(), owner: spec.owner, target: { linux: labTarget(lab) } },
      );
      const refreshed = await read("gw", inputs);
      const ls = refreshed.props!.linkStatus as Record<string, { up: boolean; connections: number }>;
      expect(ls.link1).toMatchObject({ up: false, connections: heldOn(up1) });
      expect(ls.link2).toMatchObject({ up: true, connections: heldOn(up2) });
      expect((await diff("gw", refreshed.props!, inputs)).changes).toBe(false);
    } finally {
      quiet.mockRestore();
    }

    // The CLI says the same, as JSON.
    const cli = await runCli("--json");
    expect(cli.code).toBe(0);
    const json = JSON.parse(cli.out) as GatewayStatus;
    expect(json.links.map((l) => [l.link, l.up, l.connections])).toEqual([
      ["link1", false, heldOn(up1)],
      ["link2", true, heldOn(up2)],
    ]);
  });

  test("after recovery: link1 up again since the recovery, probes ok, connections still counted", async () => {
    const restoredAt = Date.now();
    await lab.restoreUpstream(1);
    let after!: GatewayStatus;
    await waitFor(
      "link1 up in the status",
      async () => (after = await status()).links[0].up === true,
      15_000,
    );
    const l1 = link(after, "link1");
    expect(l1.lastProbe).toBe("ok");
    expect(Date.parse(l1.since!)).toBeGreaterThanOrEqual(Math.floor(restoredAt / 1000) * 1000);
    expect(l1.connections).toBe(heldOn(up1));
    expect(link(after, "link2").connections).toBe(heldOn(up2));
    // Closing the held connections: they are no longer counted (finished connections carry nothing).
    for (const h of held.splice(0, 4)) h.proc.kill();
    await waitFor(
      "closed connections uncounted",
      async () => {
        const s = await status();
        return link(s, "link1").connections === heldOn(up1) && link(s, "link2").connections === heldOn(up2);
      },
      5000,
    );

    const table = await runCli();
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^link1\s+wan1\s+up\s/m);
    expect(table.out).toMatch(/^link2\s+wan2\s+up\s/m);
    console.log(`lbgw status on the lab:\n${table.out}`);
  });

  /** `lbgw status` with a spec file and connection flags; the key in a file, never printed. */
  async function runCli(...extra: string[]) {
    const dir = mkdtempSync(join(tmpdir(), "lbgw-status-"));
    const owner = spec.owner;
    const specPath = join(dir, "spec.json");
    writeFileSync(specPath, JSON.stringify(specArgs()));
    const keyPath = join(dir, "key");
    writeFileSync(keyPath, lab.ssh.privateKey, { mode: 0o600 });
    let out = "";
    let err = "";
    const code = await main(
      [
        "status",
        "--spec",
        specPath,
        "--target",
        "linux",
        "--owner",
        owner,
        "--host",
        lab.ssh.host,
        "--port",
        String(lab.ssh.port),
        "--private-key",
        keyPath,
        "--host-key",
        lab.ssh.hostKey,
        ...extra,
      ],
      (s) => (out += s),
      (s) => (err += s),
    );
    expect(out + err).not.toContain(lab.ssh.privateKey.split("\n")[1]);
    return { code, out, err };
  }
});
