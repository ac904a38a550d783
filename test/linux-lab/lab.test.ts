/**
 * The Linux gateway lab itself: topology, SSH access, traffic, failure injection and cleanup. Needs root
 * (CI runs as root, so there it must run); elsewhere it is skipped with a loud banner.
 */
import * as fs from "node:fs";
import { Client, type ConnectConfig } from "ssh2";
import { createLab, ensureLabDeps, labSupported, sweepStaleLabs, type Lab } from "../../labs/linux-lab";
import { markerPath } from "../../labs/linux-lab/cleanup";
import { processAlive, run } from "../../labs/linux-lab/proc";
import { rootSuite } from "../skip";

const describeRoot = rootSuite("Linux lab tests (namespaces, veths and nftables rules)");

jest.setTimeout(120_000);

function sshRun(
  cfg: ConnectConfig,
  command: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on("ready", () => {
      c.exec(command, (err, stream) => {
        if (err) {
          c.end();
          reject(err);
          return;
        }
        let stdout = "";
        let stderr = "";
        stream.on("data", (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        stream.on("close", (code: number | null) => {
          c.end();
          resolve({ stdout, stderr, code: code ?? -1 });
        });
      });
    });
    c.on("error", reject);
    c.connect({ readyTimeout: 10_000, ...cfg });
  });
}

function pinned(lab: Lab): Pick<ConnectConfig, "host" | "port" | "hostVerifier"> {
  return {
    host: lab.ssh.host,
    port: lab.ssh.port,
    hostVerifier: (key: Buffer) => key.equals(lab.ssh.hostKeyBlob),
  };
}

function labTraces(id: string): string[] {
  const traces = fs.readdirSync("/run/netns").filter((n) => n.startsWith(`lbgw-${id}-`));
  if (fs.existsSync(`/sys/class/net/lbgw${id}m`)) traces.push(`veth lbgw${id}m`);
  if (fs.existsSync(`/etc/netns/lbgw-${id}-gw`)) traces.push(`/etc/netns/lbgw-${id}-gw`);
  if (fs.existsSync(markerPath(id))) traces.push(markerPath(id));
  return traces;
}

function lbgwNamespaces(): string[] {
  try {
    return fs.readdirSync("/run/netns").filter((n) => n.startsWith("lbgw-"));
  } catch {
    return [];
  }
}

function tally(values: string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const v of values) t[v] = (t[v] ?? 0) + 1;
  return t;
}

/** Two-uplink 1:1 connection balancing written by hand: what the Linux backend will render, in small. */
const BALANCE_NFT = `table ip labtest {
  chain pre {
    type filter hook prerouting priority mangle; policy accept;
    iifname "lan0" ct state new ct mark set numgen inc mod 2 map { 0 : 1, 1 : 2 }
    meta mark set ct mark
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan1" masquerade
    oifname "wan2" masquerade
  }
}
`;

describeRoot("linux lab, 2 uplinks", () => {
  let lab: Lab;
  let initial: Awaited<ReturnType<Lab["snapshot"]>>;
  const gw = (argv: string[], input?: string) => lab.exec("gw", argv, { check: true, input });

  beforeAll(async () => {
    await ensureLabDeps();
    expect(labSupported()).toEqual({ ok: true });
    lab = await createLab({ uplinks: 2, clients: 8, label: "lab.test.ts" });
    initial = await lab.snapshot();
    console.log(`lab ${lab.name}: created in ${lab.timings.createMs} ms`);
  }, 300_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  afterEach(async () => {
    // every test leaves the gateway as it found it
    await lab.exec("gw", ["nft", "flush", "ruleset"]);
    await lab.exec("gw", ["ip", "route", "flush", "table", "101"]);
    await lab.exec("gw", ["ip", "route", "flush", "table", "102"]);
    for (const pref of ["100", "200"])
      while ((await lab.exec("gw", ["ip", "rule", "del", "pref", pref])).code === 0);
    await lab.exec("gw", ["ip", "route", "del", "default"]);
    await lab.exec("gw", ["conntrack", "-F"]);
  });

  test("topology: namespaces, addresses, no default route, management /30 is root's only way in", async () => {
    const names = fs.readdirSync("/run/netns");
    for (const n of [lab.ns.lan, lab.ns.gw, lab.ns.inet, ...lab.ns.isps]) expect(names).toContain(n);
    expect(lab.ns.isps).toHaveLength(2);
    expect(lab.addresses.uplinks.map((u) => [u.iface, u.address, u.gateway, u.probeTarget])).toEqual([
      ["wan1", "10.111.0.2", "10.111.0.1", "203.0.113.1"],
      ["wan2", "10.112.0.2", "10.112.0.1", "203.0.113.2"],
    ]);
    const addrs = (await gw(["ip", "-4", "-o", "addr", "show"])).stdout;
    for (const a of ["192.168.0.1/24", "10.111.0.2/24", "10.112.0.2/24", `${lab.addresses.mgmt.gw}/30`]) {
      expect(addrs).toContain(a);
    }
    expect((await gw(["ip", "route", "show", "default"])).stdout.trim()).toBe("");
    expect(initial.sysctls).toContain("net.ipv4.ip_forward = 1");
    expect(initial.sysctls).toContain("net.ipv4.conf.all.rp_filter = 2");
    expect(initial.processes).toBe("");
    for (const u of lab.addresses.uplinks) expect(await lab.ping("gw", u.gateway)).toBe(true);
    const lanAddrs = (await lab.exec("lan", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])).stdout;
    for (const c of lab.addresses.clients) expect(lanAddrs).toContain(`${c}/24`);
    // root namespace: the management /30 and nothing else points into the lab
    const rootRoutes = (await run(["ip", "-4", "route", "show", "dev", lab.addresses.mgmt.rootIface])).stdout;
    expect(rootRoutes.trim().split("\n")).toEqual([expect.stringMatching(/^169\.254\.\d+\.\d+\/30 /)]);
  });

  test("ssh: key login with the pinned host key, password login, sudo user; a wrong host key is refused", async () => {
    expect(lab.ssh.hostKey).toMatch(/^ssh-ed25519 AAAA\S+$/);
    expect(lab.ssh.hostKeySha256).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const fp = await run(["ssh-keygen", "-lf", "-"], { input: lab.ssh.hostKey + "\n", check: true });
    expect(fp.stdout).toContain(lab.ssh.hostKeySha256);

    const byKey = await sshRun(
      { ...pinned(lab), username: lab.ssh.username, privateKey: lab.ssh.privateKey },
      "id -u; ip -4 -o addr show dev wan1",
    );
    expect(byKey.stdout).toMatch(/^0\n/);
    expect(byKey.stdout).toContain("10.111.0.2/24"); // the session runs inside the gateway namespace

    const byPassword = await sshRun(
      { ...pinned(lab), username: "root", password: lab.ssh.password },
      "id -un",
    );
    expect(byPassword.stdout.trim()).toBe("root");

    const sudo = await sshRun(
      { ...pinned(lab), username: lab.sudoUser.username, password: lab.sudoUser.password },
      "id -un; sudo -n id -u; sudo -n nft list tables >/dev/null && echo nft-ok",
    );
    expect(sudo.stdout.trim().split("\n")).toEqual([lab.sudoUser.username, "0", "nft-ok"]);

    await expect(
      sshRun(
        {
          host: lab.ssh.host,
          port: lab.ssh.port,
          hostVerifier: () => false,
          username: "root",
          privateKey: lab.ssh.privateKey,
        },
        "true",
      ),
    ).rejects.toThrow(/verification failed/i);
    await expect(sshRun({ ...pinned(lab), username: "root", password: "wrong" }, "true")).rejects.toThrow(
      /authentication/i,
    );
  });

  test("without any gateway configuration, LAN clients cannot reach the server", async () => {
    await expect(lab.connect(lab.addresses.clients[0], { timeoutMs: 1500 })).rejects.toThrow(
      /ENETUNREACH|EHOSTUNREACH|ETIMEDOUT/,
    );
  });

  test("manual default route + masquerade: the server sees the uplink's address", async () => {
    await gw(["ip", "route", "add", "default", "via", "10.111.0.1", "dev", "wan1"]);
    await gw(
      ["nft", "-f", "-"],
      'table ip labtest {\n chain post {\n type nat hook postrouting priority srcnat;\n oifname "wan1" masquerade\n }\n}\n',
    );
    expect(await lab.connect(lab.addresses.clients[0])).toBe("10.111.0.2");
    expect(await lab.connect(lab.addresses.clients[3])).toBe("10.111.0.2");
  });

  test("400 connections through a hand-configured 1:1 balance complete quickly and split 200/200", async () => {
    await gw(["nft", "-f", "-"], BALANCE_NFT);
    // LAN destinations stay in main; each mark has its own default route
    await gw(["ip", "rule", "add", "pref", "100", "to", "192.168.0.0/24", "lookup", "main"]);
    for (const k of [1, 2]) {
      await gw(["ip", "rule", "add", "pref", "200", "fwmark", String(k), "lookup", String(100 + k)]);
      await gw(["ip", "route", "add", "default", "via", `10.11${k}.0.1`, "table", String(100 + k)]);
    }
    // rp_filter=2 needs *some* route back to the server: the main default, as a real router has
    await gw(["ip", "route", "add", "default", "via", "10.111.0.1", "dev", "wan1"]);
    const before = await lab.serverStats();

    const started = Date.now();
    const results = await lab.connectMany(
      lab.addresses.clients.map((c) => ({ from: c, count: 50 })),
      { concurrency: 32 },
    );
    const ms = Date.now() - started;
    console.log(`400 connections through ${lab.name}: ${ms} ms`, tally(results.map((r) => r.seenAs)));
    expect(results).toHaveLength(400);
    expect(tally(results.map((r) => r.seenAs))).toEqual({ "10.111.0.2": 200, "10.112.0.2": 200 });
    expect(new Set(results.map((r) => r.from))).toEqual(new Set(lab.addresses.clients));
    expect(ms).toBeLessThan(10_000);
    const after = await lab.serverStats();
    expect((after["10.112.0.2"] ?? 0) - (before["10.112.0.2"] ?? 0)).toBe(200);
  });

  test("rp_filter gotcha: with rp_filter=2 and no main default route, replies on the marked uplinks are dropped", async () => {
    await gw(["nft", "-f", "-"], BALANCE_NFT);
    await gw(["ip", "rule", "add", "pref", "100", "to", "192.168.0.0/24", "lookup", "main"]);
    for (const k of [1, 2]) {
      await gw(["ip", "rule", "add", "pref", "200", "fwmark", String(k), "lookup", String(100 + k)]);
      await gw(["ip", "route", "add", "default", "via", `10.11${k}.0.1`, "table", String(100 + k)]);
    }
    const plan = [{ from: lab.addresses.clients[0], count: 4 }];
    const dropped = await lab.connectMany(plan, { allowErrors: true, timeoutMs: 800 });
    expect(dropped.every((r) => r.error === "ETIMEDOUT")).toBe(true);
    // src_valid_mark=1 makes the reverse-path check use the (restored) mark: the marked table has the route
    await gw(["sysctl", "-q", "-w", "net.ipv4.conf.all.src_valid_mark=1"]);
    try {
      const ok = await lab.connectMany(plan, { timeoutMs: 2000 });
      expect(new Set(ok.map((r) => r.seenAs))).toEqual(new Set(["10.111.0.2", "10.112.0.2"]));
    } finally {
      await gw(["sysctl", "-q", "-w", "net.ipv4.conf.all.src_valid_mark=0"]);
    }
  });

  test("failUpstream(1): the probe target beyond ISP 1 goes dark while the link and first hop stay up", async () => {
    const [u1, u2] = lab.addresses.uplinks;
    await gw(["ip", "route", "add", `${u1.probeTarget}/32`, "via", u1.gateway, "dev", u1.iface]);
    expect(await lab.ping("gw", u1.probeTarget)).toBe(true);
    await lab.failUpstream(1);
    try {
      expect(await lab.ping("gw", u1.probeTarget, { timeoutMs: 500 })).toBe(false);
      expect(await lab.ping("gw", u1.gateway)).toBe(true);
      const link = (await gw(["ip", "-o", "link", "show", "dev", "wan1"])).stdout;
      expect(link).toContain("LOWER_UP");
      expect(link).toContain("state UP");
      expect(await lab.ping("gw", u2.gateway)).toBe(true);
    } finally {
      await lab.restoreUpstream(1);
    }
    expect(await lab.ping("gw", u1.probeTarget)).toBe(true);
    // each probe target answers only what arrives through its own ISP
    await gw(["ip", "route", "replace", `${u1.probeTarget}/32`, "via", u2.gateway, "dev", u2.iface]);
    expect(await lab.ping("gw", u1.probeTarget, { timeoutMs: 500 })).toBe(false);
    await gw(["ip", "route", "del", `${u1.probeTarget}/32`]);
  });

  test("linkDown(1)/linkUp(1): carrier loss on wan1 (admin state stays up)", async () => {
    await lab.linkDown(1);
    try {
      const link = (await gw(["ip", "-o", "link", "show", "dev", "wan1"])).stdout;
      expect(link).toContain("NO-CARRIER");
      expect(link).toMatch(/<[^>]*\bUP\b/);
      expect(await lab.ping("gw", "10.111.0.1", { timeoutMs: 300 })).toBe(false);
      expect((await gw(["ip", "route", "show", "dev", "wan1"])).stdout).toContain("linkdown");
    } finally {
      await lab.linkUp(1);
    }
    let up = false;
    for (let i = 0; i < 20 && !up; i++) up = await lab.ping("gw", "10.111.0.1", { timeoutMs: 500 });
    expect(up).toBe(true);
  });

  test("inbound: the router's own service and a port-forward to a LAN host, from inet", async () => {
    const onGw = await lab.listenOnGw(2222);
    const onLan = await lab.listenOnLan(8080);
    try {
      // no route back to inet yet: the SYN arrives, the answer cannot leave
      expect(await lab.connectFromInet("10.111.0.2", 2222, { timeoutMs: 800 })).toEqual({
        ok: false,
        error: "ETIMEDOUT",
      });
      await gw(["ip", "route", "add", "default", "via", "10.111.0.1", "dev", "wan1"]);
      expect(await lab.connectFromInet("10.111.0.2", 2222)).toEqual({
        ok: true,
        seenAs: "198.51.100.2",
        by: "gw",
      });
      await gw(
        ["nft", "-f", "-"],
        `table ip labtest {\n chain pre {\n type nat hook prerouting priority dstnat;\n iifname "wan1" tcp dport 8080 dnat to ${lab.addresses.clients[0]}:8080\n }\n}\n`,
      );
      expect(await lab.connectFromInet("10.111.0.2", 8080)).toEqual({
        ok: true,
        seenAs: "198.51.100.2",
        by: `lan:${lab.addresses.clients[0]}`,
      });
    } finally {
      await onGw.close();
      await onLan.close();
    }
  });

  test("snapshot tells a changed gateway from the initial one", async () => {
    await gw(["nft", "add", "table", "ip", "labtest"]);
    await gw(["ip", "rule", "add", "pref", "100", "fwmark", "7", "lookup", "101"]);
    const changed = await lab.snapshot();
    expect(changed.nft).not.toBe(initial.nft);
    expect(changed.ipRule).not.toBe(initial.ipRule);
    await gw(["nft", "delete", "table", "ip", "labtest"]);
    await gw(["ip", "rule", "del", "pref", "100"]);
    expect(await lab.snapshot()).toEqual(initial);
  });
});

describeRoot("linux lab lifecycle", () => {
  beforeAll(async () => {
    await ensureLabDeps();
  }, 300_000);

  test("4 uplinks: traffic through each; destroy removes namespaces, processes and files, twice", async () => {
    const lab = await createLab({ uplinks: 4, clients: 4, label: "lab.test.ts lifecycle" });
    try {
      expect(lab.ns.isps).toHaveLength(4);
      await lab.exec("gw", ["nft", "-f", "-"], {
        check: true,
        input:
          'table ip t {\n chain post {\n type nat hook postrouting priority srcnat;\n oifname "wan*" masquerade\n }\n}\n',
      });
      for (const u of lab.addresses.uplinks) {
        await lab.exec("gw", ["ip", "route", "replace", "default", "via", u.gateway, "dev", u.iface], {
          check: true,
        });
        expect(await lab.connect(lab.addresses.clients[u.index - 1])).toBe(u.address);
        await lab.exec("gw", ["ip", "route", "replace", `${u.probeTarget}/32`, "via", u.gateway], {
          check: true,
        });
        expect(await lab.ping("gw", u.probeTarget)).toBe(true);
      }
      await lab.listenOnGw(2222);
      await sshRun(
        { ...pinned(lab), username: "root", privateKey: lab.ssh.privateKey },
        "setsid sleep 600 </dev/null >/dev/null 2>&1 &",
      );
      expect((await lab.snapshot()).processes).toContain("sleep 600");
    } finally {
      const pids = lab.processes();
      expect(pids.length).toBeGreaterThanOrEqual(4); // sshd, agents in lan/inet/gw, sleep
      await lab.destroy();
      console.log(
        `lab ${lab.name} (4 uplinks): created in ${lab.timings.createMs} ms, destroyed in ${lab.timings.destroyMs} ms`,
      );
      expect(labTraces(lab.id)).toEqual([]);
      expect(pids.filter(processAlive)).toEqual([]); // zombies awaiting their reaper count as gone
      const tables = await run(["nft", "list", "tables"], { check: true });
      expect(tables.stdout).not.toContain(`lbgw_${lab.id}_`);
      await lab.destroy(); // idempotent
    }
  });

  test("16 uplinks build (the benchmarks' largest shape)", async () => {
    const lab = await createLab({ uplinks: 16, clients: 16 });
    try {
      expect(lab.addresses.uplinks[15]).toMatchObject({
        iface: "wan16",
        address: "10.126.0.2",
        probeTarget: "203.0.113.16",
      });
      expect(await lab.ping("gw", "10.126.0.1")).toBe(true);
    } finally {
      await lab.destroy();
    }
    console.log(
      `lab ${lab.name} (16 uplinks): created in ${lab.timings.createMs} ms, destroyed in ${lab.timings.destroyMs} ms`,
    );
    expect(labTraces(lab.id)).toEqual([]);
  });

  test("a failure during creation leaves nothing behind", async () => {
    const before = lbgwNamespaces();
    await expect(createLab({ gateway: { nftRuleset: "this is not nft\n" } })).rejects.toThrow(/nft/);
    expect(lbgwNamespaces()).toEqual(before);
    await expect(createLab({ uplinks: 17 })).rejects.toThrow(RangeError);
  });

  test("the sweeper removes labs whose owner died, and nothing else", async () => {
    const mine = await createLab({ uplinks: 2, clients: 1 });
    const staleId = `zz${Date.now().toString(36).slice(-6)}`;
    const foreign = `lbgwx-foreign-${process.pid}`;
    try {
      // a lab whose owner is dead: a finished child's PID
      const dead = await run(["sh", "-c", "echo $$"], { check: true });
      await run(["ip", "-batch", "-"], {
        input: `netns add lbgw-${staleId}-gw\nnetns add lbgw-${staleId}-lan\nnetns add ${foreign}\n`,
        check: true,
      });
      fs.writeFileSync(
        markerPath(staleId),
        JSON.stringify({ id: staleId, pid: Number(dead.stdout), startTime: 1, createdAt: "", dir: "" }),
      );
      const removed = await sweepStaleLabs();
      expect(removed).toContain(staleId);
      expect(removed).not.toContain(mine.id);
      expect(labTraces(staleId)).toEqual([]);
      const left = fs.readdirSync("/run/netns");
      expect(left).toContain(foreign);
      expect(left).toContain(mine.ns.gw);
      expect(await mine.ping("gw", "10.111.0.1")).toBe(true);
    } finally {
      await run(["ip", "netns", "del", foreign]);
      await mine.destroy();
    }
  });
});
