/**
 * A real gateway VM (labs/linux-vm: Debian bookworm, systemd as PID 1, its own kernel, under qemu's software
 * emulation): what the namespace lab cannot show. The VM boots and answers over SSH; the provider's
 * configuration survives `systemctl reboot` with no provider call (the prober's enabled unit restores it
 * before it probes), with no drift in `read`; a boot without one uplink NIC fails loudly and is repaired by
 * an update once the NIC is back; a remove leaves nothing owned behind. Runs as root (CI does); anywhere
 * else it is skipped with a loud banner.
 */
import * as provider from "../../provider/index";
import { ADDRESSES, createVm, type Vm } from "../../labs/linux-vm";
import { weightedFailover, type UplinkSite } from "../../examples/linux-weighted-failover/gateway";
import { rootSuite } from "../skip";

const suite = rootSuite("VM lab tests (test/vm)");

jest.setTimeout(300_000);

/** The inet server's port. */
const PORT = 8080;

type Props = Record<string, unknown>;
const t0 = Date.now();
const timings: Record<string, string> = {};
const took = (what: string, ms: number) => (timings[what] = `${(ms / 1000).toFixed(1)} s`);

suite("a gateway VM: reboot persistence of the Linux backend", () => {
  let vm: Vm;
  let owner: string;
  let created: { id: string; outs: Props };
  let inputs: Props;

  const args = () =>
    weightedFailover({
      lanInterface: ADDRESSES.lanIface,
      lanNetwork: ADDRESSES.lanNet,
      uplinks: ADDRESSES.uplinks.map((u) => ({
        interface: u.iface,
        gateway: u.gateway,
        probeTarget: u.probeTarget,
      })) as [UplinkSite, UplinkSite],
    });
  const target = () => ({
    linux: {
      host: vm.ssh.host,
      port: vm.ssh.port,
      privateKey: vm.ssh.privateKey,
      hostKey: vm.ssh.hostKey,
      timeout: "60s",
    },
  });
  const unit = () => `lbgw-${owner}-prober.service`;
  const unitState = async () =>
    (await vm.exec(`systemctl is-active ${unit()} || true`, { check: false })).stdout.trim();
  const rulesOf = (props: Props) => props.rules as Record<string, string>;
  const readRules = async () => rulesOf((await provider.read(created.id, created.outs)).props as Props);
  /** Polls the guest until `ok`; throws after `limitMs`. */
  const until = async (what: string, ok: () => Promise<boolean>, limitMs = 90_000) => {
    const start = Date.now();
    while (!(await ok())) {
      if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    return Date.now() - start;
  };

  beforeAll(async () => {
    const start = Date.now();
    vm = await createVm({ label: "test/vm/vm.test.ts" });
    took("image (cached or built) + boot to SSH", Date.now() - start);
    took("boot to SSH", vm.bootMs);
    owner = `vm${vm.id}`;
  }, 900_000);

  afterAll(async () => {
    if (vm) await vm.destroy();
    took("test file", Date.now() - t0);
    process.stderr.write(`\ntest/vm timings: ${JSON.stringify(timings, null, 1)}\n`);
  }, 120_000);

  test("boots: SSH with the pinned host key, systemd as PID 1, the NICs by name, nf_flow_table", async () => {
    expect((await vm.exec("cat /proc/1/comm")).stdout.trim()).toBe("systemd");
    expect(
      (await vm.exec("systemctl is-system-running --wait || true", { check: false })).stdout.trim(),
    ).toMatch(/^(running|degraded)$/);
    const links = (await vm.exec("ip -br -4 addr show")).stdout;
    expect(links).toMatch(/^mgmt0\s+UP\s+169\.254\.250\.2\/30/m);
    expect(links).toMatch(/^lan0\s+UP\s+192\.168\.0\.1\/24/m);
    expect(links).toMatch(/^wan1\s+UP\s+10\.111\.0\.2\/24/m);
    expect(links).toMatch(/^wan2\s+UP\s+10\.112\.0\.2\/24/m);
    await vm.exec("modprobe nf_flow_table && modprobe nft_flow_offload");
    expect((await vm.exec("test -d /sys/module/nf_flow_table && echo loaded")).stdout.trim()).toBe("loaded");
    // the uplinks' routers answer from the lab's own namespace
    await vm.exec("ping -c1 -W2 10.111.0.1 && ping -c1 -W2 10.112.0.1");
  });

  test("apply, then `systemctl reboot`: everything is back with no provider call, and read shows no drift", async () => {
    const r = await provider.check({}, { owner, ...args(), target: target(), holder: "tests/vm/gateway" });
    expect(r.failures).toEqual([]);
    inputs = r.inputs;
    const c = await provider.create(inputs);
    created = { id: c.id as string, outs: c.outs as Props };
    const rules = rulesOf(created.outs);
    expect(Object.keys(rules).length).toBeGreaterThan(5);
    expect(await unitState()).toBe("active");
    expect((await vm.exec("systemctl is-enabled " + unit())).stdout.trim()).toBe("enabled");

    took("reboot to SSH", await vm.reboot());
    took(
      "after the boot: prober unit active",
      await until("the prober unit", async () => (await unitState()) === "active"),
    );
    const table = (await vm.exec(`nft list table inet lbgw_${owner}`, { check: false })).code;
    expect(table).toBe(0);
    expect((await vm.exec("ip rule show")).stdout).toMatch(/^10\d{3}:/m);
    expect((await vm.exec("ip route show table 101")).stdout).toMatch(/default via 10\.111\.0\.1 dev wan1/);
    expect((await vm.exec("ip route show table 102")).stdout).toMatch(/default via 10\.112\.0\.1 dev wan2/);
    expect(await readRules()).toEqual(rules);
  });

  test("after the reboot, real traffic: new connections 3:1 over the uplinks, failover on an upstream cut", async () => {
    await vm.startServer(PORT);
    const seen = (n: number) => Array.from({ length: n }, () => vm.connect(PORT));
    const count = (xs: Array<string | undefined>) => ({
      wan1: xs.filter((x) => x === ADDRESSES.uplinks[0].address).length,
      wan2: xs.filter((x) => x === ADDRESSES.uplinks[1].address).length,
      failed: xs.filter((x) => x === undefined).length,
    });
    const before = count(seen(40));
    timings["40 new connections (wan1/wan2/failed)"] = `${before.wan1}/${before.wan2}/${before.failed}`;
    expect(before.failed).toBe(0);
    expect(before.wan1).toBeGreaterThanOrEqual(27);
    expect(before.wan1).toBeLessThanOrEqual(33);
    expect(before.wan1 + before.wan2).toBe(40);

    // ISP 1's upstream dies (its link and first hop still answer): the prober moves link 1's slots
    vm.cutUpstream(1);
    took(
      "upstream cut until 8 new connections in a row all leave by wan2",
      await until("failover to wan2", async () => count(seen(8)).wan2 === 8, 90_000),
    );
    vm.restoreUpstream(1);
    took(
      "upstream restored until wan1 carries new connections again",
      await until("wan1 back", async () => count(seen(8)).wan1 >= 4, 90_000),
    );
  });

  test("a boot without wan2 fails clearly (the unit failed), read shows it; with the NIC back an update repairs it", async () => {
    took("power cycle without wan2 to SSH", await vm.powerCycle(["lan0", "wan1"]));
    expect((await vm.exec("ip link show wan2", { check: false })).code).not.toBe(0);
    // the unit's restore (ExecStartPre: boot.sh) fails on every start; after 5 starts in a minute systemd
    // stops retrying and the unit is failed, the reason in its status and its log
    took(
      "boot until the unit is failed",
      await until("the unit failed", async () => (await unitState()) === "failed"),
    );
    expect((await vm.exec(`systemctl status ${unit()} --no-pager || true`, { check: false })).stdout).toMatch(
      /ExecStartPre=.*prober\.sh boot \(code=exited, status=1\/FAILURE\)/,
    );
    const journal = (await vm.exec(`journalctl -b -u ${unit()} --no-pager | tail -40`, { check: false }))
      .stdout;
    expect(journal).toMatch(/boot\.sh failed: the configuration is not in place/);
    expect(journal).toMatch(/Cannot find device "wan2"/);
    const drifted = await readRules();
    expect(drifted).not.toEqual(rulesOf(created.outs));

    await vm.plug("wan2");
    await until("wan2 with its address", async () =>
      /10\.112\.0\.2\/24/.test((await vm.exec("ip -br -4 addr show wan2", { check: false })).stdout),
    );
    // Nothing rewrites the configuration behind the provider's back any more: the unit stays failed, the
    // drift stays visible, and the update (pulumi up) repairs it and starts the unit again.
    expect(await unitState()).toBe("failed");
    expect(await readRules()).not.toEqual(rulesOf(created.outs));
    const u = await provider.update(created.id, created.outs, inputs);
    expect(rulesOf(u.outs as Props)).toEqual(rulesOf(created.outs));
    created = { id: created.id, outs: u.outs as Props };
    expect(await unitState()).toBe("active");
    expect(await readRules()).toEqual(rulesOf(created.outs));
  });

  test("remove leaves the VM without any owned object, also after the next reboot", async () => {
    await provider.remove(created.id, created.outs);
    const leftovers = async () =>
      (
        await vm.exec(
          [
            "nft list tables | grep lbgw_ || true",
            "ip rule show | grep -E '^10[0-3][0-9]{2}:' || true",
            "ip route show table 101; ip route show table 102",
            "ls /etc/systemd/system | grep lbgw || true",
            "ls /usr/local/lib/lbgw 2>/dev/null || true",
            "ps -eo args | grep '[p]rober.sh' || true",
          ].join("; "),
          { check: false },
        )
      ).stdout.trim();
    expect(await leftovers()).toBe("");
    await vm.reboot();
    expect(await leftovers()).toBe("");
  });
});
