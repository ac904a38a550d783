/**
 * The Linux backend against a real kernel: the namespace lab (labs/linux-lab), reached over a real
 * sshd, with real traffic. Runs as root (CI does); anywhere else it is skipped with a loud banner.
 * One lab for the whole file (tests run in order and build on each other), destroyed in afterAll.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { LinuxApplyError } from "../../provider/linux/apply";
import { proberUnit } from "../../provider/linux/remote";
import { renderLinuxScript } from "../../provider/linux/script";
import { buildPlan } from "../../provider/plan/plan";
import type { Spec } from "../../provider/spec/schema";
import { createLab, ensureLabDeps, type GatewaySnapshot, type Lab } from "../../labs/linux-lab";
import {
  exampleArgs,
  labBackend as backend,
  labSpec,
  proberState as stateOf,
  rootSuite,
  tcpConnection,
  tcpServer,
  waitFor,
  type GatewayArgs,
} from "./support";

const suite = rootSuite("Linux backend lab tests");

jest.setTimeout(120_000);

/** A distro-like firewall and a rule in our priority range pointing at a foreign table: must survive. */
const FOREIGN_NFT = `table inet distro {
  chain input { type filter hook input priority 0; policy accept; ct state established,related accept; }
}
`;
const FOREIGN_RULE = ["ip", "rule", "add", "pref", "10050", "from", "192.0.2.0/24", "lookup", "200"];

const log = (m: string) => void m;
const figures: string[] = [];
const report = (line: string) => {
  figures.push(line);
  console.log(`lbgw linux: ${line}`);
};

suite("Linux backend on the namespace lab", () => {
  let lab: Lab;
  let owner: string;
  let baseline: GatewaySnapshot;
  let up1: string;
  let up2: string;
  const children: ChildProcess[] = [];

  /** The linux-weighted-failover example on uplinks 1 and 2 (uplink 3 is only for adding and removing). */
  const spec = (over: Partial<GatewayArgs> = {}, sticky: false | { timeout: string } = false): Spec => {
    return labSpec(lab, owner, { ...exampleArgs(lab, { sticky }), ...over });
  };

  const shares = (results: Array<{ seenAs: string }>) => {
    const n = results.length;
    const one = results.filter((r) => r.seenAs === up1).length / n;
    const two = results.filter((r) => r.seenAs === up2).length / n;
    return { one, two, text: `${(one * 100).toFixed(1)}% / ${(two * 100).toFixed(1)}% of ${n}` };
  };
  const plan20 = () => lab.addresses.clients.slice(0, 20).map((from) => ({ from, count: 20 }));

  const proberState = () => stateOf(lab, owner);

  beforeAll(async () => {
    await ensureLabDeps();
    lab = await createLab({
      uplinks: 3,
      clients: 24,
      label: "test/linux/lab.test.ts",
      gateway: { nftRuleset: FOREIGN_NFT },
    });
    owner = `t${lab.id}`;
    [up1, up2] = lab.addresses.uplinks.map((u) => u.address);
    await lab.exec("gw", FOREIGN_RULE, { check: true });
    // Uplink 3 as a RHEL-like system leaves it (strict rp_filter): each value the provider changes there
    // differs from what it must restore.
    await lab.exec(
      "gw",
      ["sysctl", "-q", "-w", `net.ipv4.conf.${lab.addresses.uplinks[2].iface}.rp_filter=1`],
      {
        check: true,
      },
    );
    await lab.startServer();
    baseline = await lab.snapshot();
    report(`lab ${lab.name} built in ${lab.timings.createMs} ms`);
  }, 600_000);

  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    // The resource's files are in the lab gateway's private tmpfs: they go with it.
    if (lab) await lab.destroy();
    if (figures.length) console.log(`lbgw linux figures:\n  ${figures.join("\n  ")}`);
  }, 120_000);

  test("applies the linux-weighted-failover example; a second apply writes nothing", async () => {
    const b = await backend(spec());
    const created = await b.apply(log);
    expect(created.rules).toEqual(b.desiredLines());
    report(`create: ${created.ms} ms, ${created.commands} SSH round trips, ${created.writes} writes`);
    const again = await b.apply(log);
    expect(again.writes).toBe(0);
    expect(again.commands).toBe(1);
    expect(again.rules).toEqual(b.desiredLines());
    report(`no-op update: ${again.ms} ms, ${again.commands} SSH round trip, ${again.writes} writes`);
    expect(await b.read(log)).toEqual(b.desiredLines());
  });

  test("nth 3:1 over 400 new connections from 20 clients; the server sees each uplink's own address", async () => {
    const results = await lab.connectMany(plan20());
    const s = shares(results);
    report(`nth 3:1 shares: ${s.text} (want 75/25 ±5)`);
    expect(new Set(results.map((r) => r.seenAs))).toEqual(new Set([up1, up2]));
    expect(Math.abs(s.one - 0.75)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(s.two - 0.25)).toBeLessThanOrEqual(0.05);
  });

  test("a weight change is applied in place (and measured)", async () => {
    const b = await backend(spec({ links: spec().links.map((l) => ({ ...l, weight: 1 })) }));
    const r = await b.apply(log);
    report(`weight change 3:1 -> 1:1: ${r.ms} ms, ${r.commands} SSH round trips, ${r.writes} writes`);
    const s = shares(await lab.connectMany(plan20()));
    report(`nth 1:1 shares: ${s.text}`);
    expect(Math.abs(s.one - 0.5)).toBeLessThanOrEqual(0.05);
    await (await backend(spec())).apply(log);
  });

  test("sticky: each of 20 clients keeps its uplink over all its connections", async () => {
    const b = await backend(spec({}, { timeout: "1h" }));
    await b.apply(log);
    await lab.exec("gw", ["conntrack", "-F"]);
    const results = await lab.connectMany(plan20());
    const byClient = new Map<string, Set<string>>();
    for (const r of results) byClient.set(r.from, (byClient.get(r.from) ?? new Set()).add(r.seenAs));
    const s = shares(results);
    report(`sticky: ${byClient.size} clients, ${results.length} connections, shares ${s.text}`);
    expect(byClient.size).toBe(20);
    for (const seen of byClient.values()) expect(seen.size).toBe(1);
    expect(Math.abs(s.one - 0.75)).toBeLessThanOrEqual(0.05);

    // A dead link's users are forgotten, so their next connections are balanced over the live links.
    await lab.failUpstream(1);
    try {
      await waitFor("link1 down", async () => /^link1 0$/m.test(await proberState()), 10_000);
      const sticky = (await lab.exec("gw", ["nft", "list", "map", "inet", `lbgw_${owner}`, "sticky"])).stdout;
      expect(sticky).not.toContain("0x00000101");
    } finally {
      await lab.restoreUpstream(1);
    }
    await waitFor("link1 up", async () => /^link1 1$/m.test(await proberState()), 10_000);
    await b.apply(log);
    await (await backend(spec())).apply(log);
  });

  test("sticky is an idle timeout: a busy user keeps its uplink past the timeout, is forgotten after it, moves when its link fails", async () => {
    // 1:1, so the nth slot map alternates and a forgotten user's next connection is predictable.
    const b = await backend(
      spec({ links: spec().links.map((l) => ({ ...l, weight: 1 })) }, { timeout: "3s" }),
    );
    expect((await b.apply(log)).rules).toEqual(b.desiredLines());
    await lab.exec("gw", ["conntrack", "-F"]);
    const port = 7778;
    const server = await tcpServer(lab.ns.inet, port, "SYSTEM:echo $SOCAT_PEERADDR; exec cat");
    children.push(server);
    const open = async (from: string) => {
      const p = tcpConnection(lab.ns.lan, from, lab.addresses.server, port);
      children.push(p);
      const seen = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no answer on the connection from ${from}`)), 3000);
        p.stdout.once("data", (d: Buffer) => (clearTimeout(t), resolve(d.toString().split("\n")[0])));
      });
      return { seen, proc: p };
    };
    const stickyMap = async () =>
      (await lab.exec("gw", ["nft", "list", "map", "inet", `lbgw_${owner}`, "sticky"])).stdout;
    const remembered = async (user: string) =>
      new RegExp(`[{ ,]${user.replace(/\./g, "\\.")} `).test(await stickyMap());
    const busyFor = async (p: { stdin: NodeJS.WritableStream }, ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end;) {
        p.stdin.write("x\n");
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const [user, fresh, mover] = [
      lab.addresses.clients[20],
      lab.addresses.clients.slice(21, 23),
      lab.addresses.clients[23],
    ];
    try {
      const busy = await open(user);
      await busyFor(busy.proc, 7_500); // 2.5 x the timeout, no new connection from the user
      expect(await remembered(user)).toBe(true);
      // A user the gateway had forgotten would now draw the other uplink: new users until one lands on the
      // busy user's uplink (one numgen counter; 1:1 slots alternate).
      let landed = false;
      for (const f of fresh) if ((landed = (await lab.connect(f)) === busy.seen)) break;
      expect(landed).toBe(true);
      for (let i = 0; i < 3; i++) expect(await lab.connect(user)).toBe(busy.seen);
      report(`sticky idle: a user busy for 2.5 x 3s kept ${busy.seen === up1 ? "uplink 1" : "uplink 2"}`);

      // Silence: the connection ends (its last packets refresh), and the user is forgotten after the timeout.
      busy.proc.kill();
      const forgotten = await waitFor(
        "the silent user forgotten",
        async () => !(await remembered(user)),
        6_000,
      );
      report(`sticky idle: a silent user forgotten ${forgotten} ms after its connection closed (timeout 3s)`);

      // A busy user whose uplink fails is moved: the prober deletes its entry and the refresh, which only
      // updates existing entries, does not bring it back.
      const m = await open(mover);
      const k = m.seen === up1 ? 1 : 2;
      await lab.failUpstream(k);
      try {
        await waitFor(
          `link${k} down`,
          async () => new RegExp(`^link${k} 0$`, "m").test(await proberState()),
          10_000,
        );
        await busyFor(m.proc, 1_000);
        expect(await remembered(mover)).toBe(false);
        expect(await lab.connect(mover)).toBe(k === 1 ? up2 : up1);
      } finally {
        await lab.restoreUpstream(k);
      }
      await waitFor(
        `link${k} up`,
        async () => new RegExp(`^link${k} 1$`, "m").test(await proberState()),
        15_000,
      );
      m.proc.kill();
    } finally {
      server.kill();
    }
    await (await backend(spec())).apply(log);
  });

  test("upstream failure: new connections move within the detection time, and come back after recovery", async () => {
    const b = await backend(spec());
    await b.apply(log);
    const probe = () =>
      lab.connectMany(
        lab.addresses.clients.slice(0, 8).map((from) => ({ from, count: 1 })),
        { allowErrors: true, timeoutMs: 300 },
      );
    const configured = 3 * (200 + 200);
    await lab.failUpstream(1);
    let detected: number;
    try {
      detected = await waitFor(
        "every new connection on link2",
        async () => (await probe()).every((r) => r.seenAs === up2),
        15_000,
      );
      report(
        `upstream failure of link1: all new connections on link2 after ${detected} ms (configured failAfter 3 x (interval 200 ms + timeout 200 ms) = ${configured} ms)`,
      );
      const during = await lab.connectMany(plan20());
      expect(during.every((r) => r.seenAs === up2)).toBe(true);
      // The SYNs that went out on link1 before detection are forgotten: a retransmission or a new
      // connection reusing their ports is balanced afresh instead of following them into the dead link.
      const halfOpen = await lab.exec("gw", [
        "conntrack",
        "-L",
        "-p",
        "tcp",
        "-m",
        "0x101",
        "--state",
        "SYN_SENT",
      ]);
      expect(halfOpen.stdout.trim()).toBe("");
      // The prober's rewrite of the slot map is not drift.
      expect(await b.read(log)).toEqual(b.desiredLines());
      expect((await lab.exec("gw", ["cat", `/run/lbgw/${owner}/log`])).stdout).toMatch(/link link1 down/);
    } finally {
      await lab.restoreUpstream(1);
    }
    expect(detected).toBeLessThanOrEqual(configured + 1500);
    const back = await waitFor("link1 back", async () => /^link1 1$/m.test(await proberState()), 15_000);
    report(`link1 recovered: prober took it back after ${back} ms (recoverAfter 5)`);
    const s = shares(await lab.connectMany(plan20()));
    report(`after recovery: ${s.text}`);
    expect(Math.abs(s.one - 0.75)).toBeLessThanOrEqual(0.05);
  });

  test("established connections keep their uplink: table replace, other link failing, own link recovering", async () => {
    const port = 7777;
    const server = await tcpServer(lab.ns.inet, port, "SYSTEM:echo $SOCAT_PEERADDR; exec cat");
    children.push(server);
    const open = async (from: string) => {
      const p = tcpConnection(lab.ns.lan, from, lab.addresses.server, port);
      children.push(p);
      const lines: string[] = [];
      let buf = "";
      p.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split("\n");
        buf = parts.pop() as string;
        lines.push(...parts);
      });
      const next = async (timeoutMs = 3000) => {
        const start = Date.now();
        while (lines.length === 0) {
          if (Date.now() - start > timeoutMs) throw new Error(`no answer on the connection from ${from}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        return lines.shift() as string;
      };
      const seenAs = await next();
      return {
        seenAs,
        say: async (word: string) => {
          p.stdin.write(`${word}\n`);
          return next();
        },
        close: () => p.kill(),
      };
    };

    // c1 on link2, c2 on link1 (clients chosen by trying: the slot map decides).
    const conns = await Promise.all(lab.addresses.clients.slice(0, 8).map(open));
    const onTwo = conns.find((c) => c.seenAs === up2);
    const onOne = conns.find((c) => c.seenAs === up1);
    expect(onTwo && onOne).toBeTruthy();
    const c1 = onTwo as (typeof conns)[number];
    const c2 = onOne as (typeof conns)[number];

    // The table is replaced (a weight change) and link1 (the other one for c1) fails upstream.
    await (await backend(spec({ links: spec().links.map((l) => ({ ...l, weight: 1 })) }))).apply(log);
    expect(await c1.say("after-replace")).toBe("after-replace");
    expect(await c2.say("after-replace")).toBe("after-replace");
    await lab.failUpstream(1);
    try {
      expect(await c1.say("other-link-failed")).toBe("other-link-failed");
    } finally {
      await lab.restoreUpstream(1);
    }

    // Carrier loss on link1: its table falls back to link2 at once; a connection opened now leaves by
    // link2 and is bound to it, so it survives link1 coming back.
    await lab.linkDown(1);
    let c3: Awaited<ReturnType<typeof open>>;
    try {
      c3 = await open(lab.addresses.clients[9]);
      expect(c3.seenAs).toBe(up2);
    } finally {
      await lab.linkUp(1);
    }
    await waitFor("link1 up", async () => /^link1 1$/m.test(await proberState()), 15_000);
    expect(await c3.say("own-link-recovered")).toBe("own-link-recovered");
    expect(await c1.say("still-there")).toBe("still-there");
    expect(await c2.say("still-there")).toBe("still-there");
    report("established connections survived a table replace, the other link failing, and link1 recovering");
    for (const c of [...conns, c3]) c.close();
    server.kill();
    await (await backend(spec())).apply(log);
  });

  test("inbound symmetry: to the router's uplink address and to a port-forwarded LAN server", async () => {
    const a = lab.addresses;
    // A foreign table counts which uplink the replies leave by, and forwards port 8081 on wan2 to the LAN.
    await lab.exec("gw", ["nft", "-f", "-"], {
      check: true,
      input: `table inet probe {
  chain pre { type nat hook prerouting priority dstnat; iifname "${a.uplinks[1].iface}" tcp dport 8081 dnat ip to ${a.clients[0]}:8081; }
  chain post {
    type filter hook postrouting priority 300;
    tcp sport { 8080, 8081 } oifname "${a.uplinks[0].iface}" counter name wrong
    tcp sport { 8080, 8081 } oifname "${a.uplinks[1].iface}" counter name right
  }
  counter wrong {}
  counter right {}
}
`,
    });
    const gw = await lab.listenOnGw(8080);
    const lan = await lab.listenOnLan(8081, a.clients[0]);
    try {
      const toRouter = await lab.connectFromInet(a.uplinks[1].address, 8080);
      const toLan = await lab.connectFromInet(a.uplinks[1].address, 8081);
      expect(toRouter).toEqual({ ok: true, seenAs: a.inetClient, by: "gw" });
      expect(toLan).toEqual({ ok: true, seenAs: a.inetClient, by: `lan:${a.clients[0]}` });
      const counters = (await lab.exec("gw", ["nft", "list", "counters", "table", "inet", "probe"])).stdout;
      const packets = (name: string) =>
        Number(new RegExp(`counter ${name} \\{\\s*packets (\\d+)`).exec(counters)?.[1]);
      report(
        `inbound on link2 (routerTraffic is link1): replies via link2 ${packets("right")} packets, via link1 ${packets("wrong")}`,
      );
      expect(packets("right")).toBeGreaterThan(0);
      expect(packets("wrong")).toBe(0);
    } finally {
      await gw.close();
      await lan.close();
      await lab.exec("gw", ["nft", "delete", "table", "inet", "probe"]);
    }
  });

  test("LAN-to-router and LAN-to-LAN traffic is not balanced", async () => {
    const a = lab.addresses;
    const gw = await lab.listenOnGw(8090);
    try {
      for (const to of [a.lanGw, a.uplinks[1].address]) {
        const seen = await lab.connect(a.clients[3], { to, port: 8090 });
        expect(seen).toBe(a.clients[3]);
      }
    } finally {
      await gw.close();
    }
    // A second LAN behind the gateway (its own namespace, made here): client → LAN host, no NAT, no mark.
    const ns = `lbgwx${lab.id}`;
    await runIp(["netns", "add", ns]);
    try {
      await runIp([
        "link",
        "add",
        "lan9",
        "netns",
        lab.ns.gw,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns,
      ]);
      await lab.exec("gw", ["ip", "addr", "add", "192.168.9.1/24", "dev", "lan9"], { check: true });
      await lab.exec("gw", ["ip", "link", "set", "lan9", "up"], { check: true });
      await runIp(["-n", ns, "addr", "add", "192.168.9.10/24", "dev", "eth0"]);
      await runIp(["-n", ns, "link", "set", "eth0", "up"]);
      await runIp(["-n", ns, "link", "set", "lo", "up"]);
      await runIp(["-n", ns, "route", "add", "default", "via", "192.168.9.1"]);
      const s = spec({ lan: { interfaces: [a.lanIface, "lan9"], networks: [a.lanNet, "192.168.9.0/24"] } });
      const b = await backend(s);
      await b.apply(log);
      const listener = await tcpServer(ns, 9000, "SYSTEM:echo $SOCAT_PEERADDR");
      children.push(listener);
      const r = await lab.exec(
        "lan",
        ["socat", "-T", "2", "-", `TCP:192.168.9.10:9000,bind=${a.clients[4]}`],
        { input: "" },
      );
      listener.kill();
      expect(r.stdout.trim()).toBe(a.clients[4]);
      const ct = (await lab.exec("gw", ["conntrack", "-L", "-d", "192.168.9.10"])).stdout;
      expect(ct).toMatch(/dport=9000 .*mark=0 /);
      expect(ct).not.toMatch(/mark=25[78]/);
      report("LAN to router (LAN and uplink address) and LAN to LAN: not NATed, ct mark 0");
    } finally {
      await lab.exec("gw", ["ip", "link", "del", "lan9"]);
      await runIp(["netns", "del", ns]);
      await (await backend(spec())).apply(log);
    }
  });

  test("read shows drift; the next apply repairs it", async () => {
    const b = await backend(spec());
    await lab.exec("gw", ["nft", "add", "rule", "inet", `lbgw_${owner}`, "egress", "counter"], {
      check: true,
    });
    await lab.exec("gw", ["ip", "route", "del", "default", "metric", "2", "table", "101"], { check: true });
    const drifted = await b.read(log);
    expect(drifted).toContainEqual(expect.stringMatching(/chain egress: counter packets \d+ bytes \d+$/));
    expect(drifted.filter((l) => !b.desiredLines().includes(l)).length).toBeGreaterThan(0);
    expect(b.desiredLines().filter((l) => !drifted.includes(l))).toEqual([
      expect.stringMatching(/^ip route default via .* metric 2 table 101$/),
    ]);
    const fixed = await b.apply(log);
    expect(fixed.writes).toBeGreaterThan(0);
    expect(await b.read(log)).toEqual(b.desiredLines());

    // A prober that is gone (killed, or a restart that never finished): drift, and the next apply restarts it.
    await lab.exec("gw", ["sh", "-c", 'kill -KILL -"$(cat "$1/pid")"', "sh", `/run/lbgw/${owner}`], {
      check: true,
    });
    const running = b.desiredLines().filter((l) => l.startsWith("prober "));
    expect(running).toEqual([expect.stringMatching(/ running$/)]);
    const stopped = await b.read(log);
    expect(stopped).toEqual(
      b.desiredLines().map((l) => (l === running[0] ? l.replace(/running$/, "stopped") : l)),
    );
    const restarted = await b.apply(log);
    expect(restarted.writes).toBe(1);
    expect(await b.read(log)).toEqual(b.desiredLines());
  });

  test("a read never sees the prober's maps half rewritten (new maps, old record): it waits for the prober's lock", async () => {
    const b = await backend(spec());
    await b.apply(log);
    const run = `/run/lbgw/${owner}`;
    const table = `lbgw_${owner}`;
    const hash = (await lab.exec("gw", ["cat", `${run}/maps`], { check: true })).stdout.split("\n")[0];
    expect(hash).toMatch(/^hash [0-9a-f]{16}$/);
    const maps = (slots: string[], live: string[]) => ({
      nft:
        `flush map inet ${table} slots\nadd element inet ${table} slots { ${slots.join(", ")} }\n` +
        `flush map inet ${table} live\nadd element inet ${table} live { ${live.join(", ")} }\n`,
      record: [hash, ...slots.map((e) => `slots ${e}`), ...live.map((e) => `live ${e}`)].join("\n") + "\n",
    });
    // What the prober writes when link1 goes down, written as it does (maps, then their record, under its
    // lock), with 4 s between the two.
    const down = maps(
      [0, 1, 2, 3].map((i) => `${i} : 0x00000102`),
      ["0x00000101 : 0x00000102", "0x00000102 : 0x00000102"],
    );
    const write = (m: typeof down, holdS: number) =>
      lab.exec(
        "gw",
        [
          "sh",
          "-c",
          'exec 8>>"$1/maps.lock"; flock 8; printf "%s" "$2" | nft -f -; : >"$1/held"; sleep "$4"; ' +
            'printf "%s" "$3" >"$1/maps.new"; mv -f "$1/maps.new" "$1/maps"; rm -f "$1/held"',
          "sh",
          run,
          m.nft,
          m.record,
          String(holdS),
        ],
        { check: true },
      );
    const writing = write(down, 4);
    let released = 0;
    void writing.then(() => (released = Date.now()));
    const started = Date.now();
    while ((await lab.exec("gw", ["test", "-e", `${run}/held`])).code !== 0) {
      if (Date.now() - started > 5000) throw new Error("the map rewrite did not start");
      await new Promise((r) => setTimeout(r, 20));
    }
    const lines = await b.read(log);
    const done = Date.now();
    await writing;
    // It waited for the record (finished after the writer released the lock, not during the 4 s), and then
    // saw maps and record of one moment: the prober's own state, not drift.
    expect(done).toBeGreaterThanOrEqual(released - 200);
    expect(lines).toEqual(b.desiredLines());
    // Put back what the prober (all links up) wrote.
    const slots = b.desiredLines().filter((l) => / map slots element /.test(l));
    const live = b.desiredLines().filter((l) => / map live element /.test(l));
    const element = (l: string) => l.replace(/^.* element /, "");
    await write(maps(slots.map(element), live.map(element)), 0);
    expect((await lab.exec("gw", ["cat", `${run}/maps`], { check: true })).stdout).toContain(
      "slots 0 : 0x00000101",
    );
    expect(await b.read(log)).toEqual(b.desiredLines());
  });

  test("host key mismatch, wrong credentials and sudo", async () => {
    const wrongKey = spec();
    (wrongKey.target.linux as { hostKey: string }).hostKey = lab.ssh.publicKey;
    await expect((await backend(wrongKey)).read(log)).rejects.toThrow(
      new RegExp(
        `host key mismatch for ${lab.ssh.host.replace(/\./g, "\\.")}: expected SHA256:\\S+, got ${lab.ssh.hostKeySha256.replace(/[+/]/g, "\\$&")}`,
      ),
    );
    const byFingerprint = spec();
    (byFingerprint.target.linux as { hostKey: string }).hostKey = lab.ssh.hostKeySha256;
    expect(await (await backend(byFingerprint)).read(log)).toEqual((await backend(spec())).desiredLines());

    const wrongPassword = spec();
    Object.assign(wrongPassword.target.linux as object, {
      privateKey: undefined,
      password: "not-the-password",
    });
    await expect((await backend(wrongPassword)).read(log)).rejects.toThrow(/SSH login to root@.* failed/);

    const viaSudo = spec();
    Object.assign(viaSudo.target.linux as object, { user: lab.sudoUser.username, sudo: true });
    const b = await backend(viaSudo);
    expect(await b.read(log)).toEqual(b.desiredLines());
  });

  test("an SSH drop mid-apply is rolled back, and a rerun converges", async () => {
    const target = spec({ links: spec().links.map((l, i) => ({ ...l, weight: i === 0 ? 2 : 1 })) });
    const faulty = await backend(target, {
      beforeCommand: (session: { dropConnection(): void }, index: number, argv: readonly string[]) => {
        // Commands: read, nft, prober; drop just before the prober is installed (the nft table is new).
        if (index === 2) session.dropConnection();
        void argv;
      },
    });
    const err = await faulty.apply(log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinuxApplyError);
    expect((err as LinuxApplyError).restored).toBe(true);
    // Restored: the device holds the previous configuration.
    expect(await (await backend(spec())).read(log)).toEqual((await backend(spec())).desiredLines());
    const rerun = await backend(target);
    await rerun.apply(log);
    expect(await rerun.read(log)).toEqual(rerun.desiredLines());
  });

  test("a prober restart does not wait for zombies (an init that reaps late costs nothing)", async () => {
    const lib = `/usr/local/lib/lbgw/${owner}`;
    const run = `/run/lbgw/${owner}`;
    const sh = async (script: string, ...args: string[]) =>
      (await lab.exec("gw", ["sh", "-c", script, "sh", ...args], { check: true })).stdout.trim();
    const stateOf = async (pid: string) =>
      (
        await lab.exec("gw", [
          "sh",
          "-c",
          'cut -d" " -f3 "/proc/$1/stat" 2>/dev/null || echo gone',
          "sh",
          pid,
        ])
      ).stdout.trim();
    await (await backend(spec())).apply(log);
    // The provider's prober is stopped, then started again under a parent that never reaps (sleep): once
    // stopped, its supervisor stays a zombie for a minute, as under a PID 1 that reaps lazily.
    await sh(
      'pid=$(cat "$1/pid"); kill -TERM "-$pid"; i=0; ' +
        'while [ "$(cut -d" " -f3 "/proc/$pid/stat" 2>/dev/null || echo Z)" != Z ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; ' +
        'rm -f "$1/pid"',
      run,
    );
    const holder = await sh(
      'sh -c \'setsid sh "$1/prober.sh" supervise </dev/null >/dev/null 2>&1 & echo $$ >"$2/holder"; exec sleep 60\' ' +
        'holder "$1" "$2" </dev/null >/dev/null 2>&1 & ' +
        'i=0; while { [ ! -s "$2/pid" ] || [ ! -s "$2/holder" ]; } && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; ' +
        'cat "$2/holder"',
      lib,
      run,
    );
    try {
      const supervisor = await sh('cat "$1/pid"', run);
      expect(await stateOf(supervisor)).toMatch(/^[RS]$/);
      // When each command starts: the prober's restart lasts from its command to the next (the verify read).
      const starts: Array<{ argv: readonly string[]; at: number }> = [];
      const b = await backend(spec({ links: spec().links.map((l) => ({ ...l, weight: 1 })) }), {
        beforeCommand: (_s: unknown, _i: number, argv: readonly string[]) =>
          starts.push({ argv, at: Date.now() }),
      });
      const r = await b.apply(log);
      const k = starts.findIndex((c) => c.argv.some((a) => a.includes("lbgw-prober-job")));
      const restartMs = starts[k + 1].at - starts[k].at;
      report(
        `weight change, the old supervisor left a zombie by its parent: ${r.ms} ms, the prober's restart ${restartMs} ms`,
      );
      // The scenario held (the old supervisor is still a zombie), and the restart did not wait for it:
      // before, it waited 5 s, then until the zombie was reaped (here: beyond the 20 s command timeout).
      expect(await stateOf(supervisor)).toBe("Z");
      expect(restartMs).toBeLessThan(3000);
      expect(await b.read(log)).toEqual(b.desiredLines());
    } finally {
      await lab.exec("gw", ["kill", holder]);
    }
    await (await backend(spec())).apply(log);
  });

  test("an uplink removed from the spec gets its sysctls back (and they are forgotten); destroy restores the rest", async () => {
    const u3 = lab.addresses.uplinks[2];
    const keys = ["rp_filter", "src_valid_mark", "ignore_routes_with_linkdown"].map(
      (k) => `net.ipv4.conf.${u3.iface}.${k}`,
    );
    const values = async () => {
      const out = (await lab.exec("gw", ["sysctl", ...keys], { check: true })).stdout;
      return out.split("\n").filter(Boolean).sort();
    };
    const original = await values();
    expect(original).toEqual(keys.map((k, i) => `${k} = ${["1", "0", "0"][i]}`).sort());
    const three = await backend(
      spec({
        links: [
          ...spec().links,
          {
            name: "link3",
            interface: u3.iface,
            gateway: u3.gateway,
            weight: 1,
            check: { targets: [u3.probeTarget] },
          },
        ],
      }),
    );
    await three.apply(log);
    expect(await values()).toEqual(keys.map((k, i) => `${k} = ${["2", "1", "1"][i]}`).sort());

    const two = await backend(spec());
    // Until the next apply, a read shows what is still to be put back.
    expect((await two.read(log)).filter((l) => l.includes(`.${u3.iface}.`))).toEqual(
      keys.map((k, i) => `sysctl ${k} = ${["2", "1", "1"][i]} (to restore: ${["1", "0", "0"][i]})`),
    );
    const removed = await two.apply(log);
    report(`link3 removed: ${removed.ms} ms, ${removed.commands} SSH round trips, ${removed.writes} writes`);
    expect(await values()).toEqual(original);
    const saved = (
      await lab.exec("gw", ["cat", `/usr/local/lib/lbgw/${owner}/sysctl.saved`], { check: true })
    ).stdout;
    expect(saved).not.toContain(`/${u3.iface}/`);
    expect(await two.read(log)).toEqual(two.desiredLines());
    expect((await two.apply(log)).writes).toBe(0);

    // Three again, then destroy: every sysctl as before the first apply, uplink 3's included.
    await three.apply(log);
    await three.destroy(log);
    expect((await lab.snapshot()).sysctls).toEqual(baseline.sysctls);
    await two.apply(log);
  });

  test("the `lbgw render --target linux` script, run as root on the gateway, gives what the provider reads as converged", async () => {
    const s = spec();
    const b = await backend(s);
    await b.destroy(log);
    const script = renderLinuxScript(s, buildPlan(s));
    await lab.exec("gw", ["sh", "-s"], { input: script, check: true });
    expect(await b.read(log)).toEqual(b.desiredLines());
    expect((await b.apply(log)).writes).toBe(0);
    await lab.exec("gw", ["sh", "-s"], { input: script, check: true });
    expect(await b.read(log)).toEqual(b.desiredLines());
  });

  test("after a reboot the unit's ExecStartPre puts the configuration back before the prober starts", async () => {
    const s = spec();
    const b = await backend(s);
    await b.apply(log);
    const lib = `/usr/local/lib/lbgw/${owner}`;
    const run = `/run/lbgw/${owner}`;
    const gw = async (argv: string[]) => (await lab.exec("gw", argv, { check: true })).stdout;
    expect(await gw(["cat", `${lib}/boot.sh`])).toBe(renderLinuxScript(s, buildPlan(s), { prober: false }));
    // What systemd runs before the prober (the lab has no systemd: run by hand, as the unit says).
    const pre = /^ExecStartPre=(.+)$/m.exec(proberUnit(owner))?.[1].split(" ");
    if (!pre) throw new Error(`no ExecStartPre in the unit:\n${proberUnit(owner)}`);

    // An apply's restart of the prober (the configuration is in place for this boot) leaves it alone.
    await gw(["ip", "rule", "del", "pref", "10300"]);
    await gw(pre);
    expect(await gw(["ip", "rule", "show", "pref", "10300"])).toBe("");

    // A reboot: the table, the owned rules and routes, the sysctls, /run and the prober are gone.
    await gw(["sh", "-c", 'kill -KILL -"$(cat "$1/pid")"; rm -rf "$1"', "sh", run]);
    await gw(["nft", "delete", "table", "inet", `lbgw_${owner}`]);
    await gw([
      "sh",
      "-c",
      `for p in $(ip -4 rule show | awk -F: '$1 >= 10000 && $1 <= 10399 && / lookup (main|10[1-9]|11[0-6])( |$)/ { print $1 }'); do
        ip -4 rule del pref "$p"
      done
      for t in $(seq 101 116); do ip -4 route flush table "$t" 2>/dev/null || true; done`,
    ]);
    await gw([
      "sh",
      "-c",
      'while read -r p v; do echo "$v" >"/proc/sys/$p"; done <"$1"',
      "sh",
      `${lib}/sysctl.saved`,
    ]);
    const rebooted = await b.read(log);
    expect(rebooted.filter((l) => /^(nft|ip) /.test(l))).toEqual([]);
    expect(rebooted).toContainEqual(expect.stringMatching(/^prober \S+ [0-9a-f]{16} stopped$/));
    expect(rebooted.filter((l) => l.startsWith("sysctl ") && !b.desiredLines().includes(l))).not.toEqual([]);

    await gw(pre);
    expect(await gw(["cat", `${run}/log`])).toMatch(/configuration restored after a reboot/);
    // Then the prober, as the provider starts it where systemd is not PID 1.
    await gw(["sh", "-c", 'setsid sh "$1/prober.sh" supervise </dev/null >/dev/null 2>&1 &', "sh", lib]);
    await waitFor(
      "the prober",
      async () => (await lab.exec("gw", ["test", "-s", `${run}/state`])).code === 0,
      5000,
    );
    expect(await b.read(log)).toEqual(b.desiredLines());
    expect((await b.apply(log)).writes).toBe(0);

    // boot.sh is one of the prober's files: a changed one is drift, and the next apply puts it back.
    await gw(["sh", "-c", 'echo "# edited" >>"$1"', "sh", `${lib}/boot.sh`]);
    const edited = await b.read(log);
    expect(edited.filter((l) => !b.desiredLines().includes(l))).toEqual([
      expect.stringMatching(new RegExp(`^prober ${lib}/prober.sh [0-9a-f]{16} running$`)),
    ]);
    expect((await b.apply(log)).writes).toBe(1);
    expect(await b.read(log)).toEqual(b.desiredLines());
    expect(await gw(["cat", `${lib}/boot.sh`])).toBe(renderLinuxScript(s, buildPlan(s), { prober: false }));
  });

  test("a first create that fails is rolled back completely: sysctls included, the gateway as before", async () => {
    const b = await backend(spec());
    await b.destroy(log);
    const before = await lab.snapshot();
    // Commands of a create: read, ip -batch, sysctls, nft, prober; dropped once the sysctls are set.
    const faulty = await backend(spec(), {
      beforeCommand: (session: { dropConnection(): void }, index: number) => {
        if (index === 3) session.dropConnection();
      },
    });
    const err = await faulty.apply(log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinuxApplyError);
    expect((err as LinuxApplyError).message).toContain("sysctls and prober were restored");
    const after = await lab.snapshot();
    expect(after.sysctls).toEqual(before.sysctls);
    expect(after.nft).toEqual(before.nft);
    expect(after.ipRule).toEqual(before.ipRule);
    expect(after.routes).toEqual(before.routes);
    const saved = await lab.exec("gw", ["cat", `/usr/local/lib/lbgw/${owner}/sysctl.saved`]);
    expect(saved.stdout.trim()).toBe("");
    await b.apply(log);
    expect(await b.read(log)).toEqual(b.desiredLines());
  });

  test("destroy leaves the gateway exactly as before; foreign tables and rules survive", async () => {
    const b = await backend(spec());
    await b.apply(log);
    await b.destroy(log);
    const after = await lab.snapshot();
    expect(after.nft).toEqual(baseline.nft);
    expect(after.ipRule).toEqual(baseline.ipRule);
    expect(after.routes).toEqual(baseline.routes);
    expect(after.processes).toEqual(baseline.processes);
    expect(after.sysctls).toEqual(baseline.sysctls);
    expect(after.nft).toContain("table inet distro");
    expect(after.ipRule).toContain("10050:\tfrom 192.0.2.0/24 lookup 200");
    expect(await b.read(log)).toEqual([]);
  });
});

function runIp(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("ip", argv, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`ip ${argv.join(" ")}: ${err}`))));
  });
}
