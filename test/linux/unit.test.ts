/**
 * Linux backend without a gateway: rendering (seed 003's intent, its mistakes fixed), the quoting of
 * command lines, host-key pinning, stdin framing, the read-back canonical form and no-op detection, and
 * the prober's slot arithmetic (its real sh/awk code, run locally).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { actualLines, diffState, sysctlsToRestore, type DeviceState } from "../../provider/linux/apply";
import { canonicalRule, desiredLines, parseNftTable, ruleArgs } from "../../provider/linux/lines";
import {
  frame,
  PROBER_INSTALL_SCRIPT,
  proberInstallInput,
  proberUnit,
  READ_SCRIPT,
  SYSCTL_SCRIPT,
  TEARDOWN_SCRIPT,
  unframe,
} from "../../provider/linux/remote";
import { nftReplaceFile, printTable, renderLinux } from "../../provider/linux/render";
import { commandLine, fingerprint, hostKeyCheck, shellQuote } from "../../provider/linux/session";
import { bootScript, proberFilesHash, renderLinuxScript } from "../../provider/linux/script";
import { buildPlan } from "../../provider/plan/plan";
import { parseSpec, type Spec, type SpecInput } from "../../provider/spec/schema";

const check = (target: string) => ({ targets: [target], interval: "1s", timeout: "1s" });

/** Seed 003: link 1 (bandwidth 1500, weight 3) and link 2 (500, weight 1), NATed LAN, failover. */
function seed003(over: Partial<SpecInput> = {}): Spec {
  const r = parseSpec({
    owner: "gw",
    target: { linux: { host: "192.0.2.10", hostKey: "SHA256:abc", privateKey: "key" } },
    lan: { interfaces: ["lan0"], networks: ["192.168.0.0/24"] },
    links: [
      { name: "link1", interface: "wan1", gateway: "10.111.0.1", weight: 3, check: check("203.0.113.1") },
      { name: "link2", interface: "wan2", gateway: "10.112.0.1", weight: 1, check: check("203.0.113.2") },
    ],
    ...over,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  return r.spec;
}

const render = (spec: Spec) => renderLinux(buildPlan(spec));
const rulesOf = (spec: Spec, chain: string) =>
  render(spec).nft.objects.find((o) => o.name === chain)?.rules ?? [];

describe("render: seed 003's intent, fixed", () => {
  const d = render(seed003());
  const slots = d.nft.objects.find((o) => o.name === "slots");

  test("one numgen rule over a 4-slot map, 3 slots for link 1 and 1 for link 2", () => {
    expect(slots?.spec).toEqual(["typeof numgen inc mod 4 : meta mark"]);
    const marks = slots?.elements.map((e) => e.split(" : ")[1]) ?? [];
    expect(marks.filter((m) => m === "0x00000101")).toHaveLength(3);
    expect(marks.filter((m) => m === "0x00000102")).toHaveLength(1);
    // One shared counter (the seed's per-rule `statistic` counters would not split 1:1:1:1).
    expect(rulesOf(seed003(), "prerouting").filter((r) => r.includes("numgen"))).toEqual([
      'ct mark set numgen inc mod 4 map @slots goto pick comment "strategy nth: next slot"',
    ]);
  });

  test("mark 2 routes via link 2 and is NATed to link 2's address (the seed said link 1)", () => {
    expect(d.routes).toContain("default via 10.112.0.1 dev wan2 metric 1 table 102");
    expect(d.rules).toContainEqual({ kind: "fixed", priority: 10102, args: "fwmark 0x102 lookup 102" });
    // one rule for every masqueraded uplink (the rules a packet meets do not grow with the uplinks)
    expect(rulesOf(seed003(), "srcnat")).toEqual([
      'oifname { "wan1", "wan2" } masquerade comment "links[].nat: masquerade"',
    ]);
  });

  test("failover: each link table falls back to the other link; the prober gets the thresholds", () => {
    expect(d.routes).toContain("default via 10.112.0.1 dev wan2 metric 2 table 101");
    expect(d.routes).toContain("default via 10.111.0.1 dev wan1 metric 2 table 102");
    expect(d.prober.conf).toContain('L1_TARGETS="203.0.113.1"');
    expect(d.prober.conf).toContain("L1_FAIL=3");
    expect(d.prober.conf).toContain("L1_RECOVER=10");
  });

  test("connections keep their link; LAN, router and gateway destinations are not balanced", () => {
    const pre = rulesOf(seed003(), "prerouting");
    expect(pre[0]).toMatch(/^ct mark \{ 0x00000101, 0x00000102 \} meta mark set ct mark return/);
    const at = (text: string) => pre.findIndex((r) => r.startsWith(text));
    expect(at("ip daddr @direct return")).toBeLessThan(at("ct mark set numgen"));
    expect(at("fib daddr type local return")).toBeLessThan(at("ct mark set numgen"));
    expect(d.nft.objects.find((o) => o.name === "direct")?.elements).toEqual([
      "10.111.0.1",
      "10.112.0.1",
      "192.168.0.0/24",
    ]);
    expect(rulesOf(seed003(), "egress")).toEqual([
      'ct state new ct mark set oifname map { "wan1" : 0x00000101, "wan2" : 0x00000102 } comment "links: a connection stays on the uplink it leaves by"',
    ]);
  });

  test("sysctls: forwarding, and per uplink src_valid_mark, loose rp_filter, linkdown routes ignored", () => {
    expect(d.sysctls).toEqual([
      { path: "net/ipv4/ip_forward", value: "1" },
      ...["wan1", "wan2"].flatMap((i) => [
        { path: `net/ipv4/conf/${i}/rp_filter`, value: "2" },
        { path: `net/ipv4/conf/${i}/src_valid_mark`, value: "1" },
        { path: `net/ipv4/conf/${i}/ignore_routes_with_linkdown`, value: "1" },
      ]),
    ]);
  });

  test("pcc hashes with a fixed seed; ecmp is refused with a reason", () => {
    const pcc = (hash: SpecInput["hash"]) =>
      rulesOf(seed003({ strategy: "pcc", hash }), "prerouting").find((r) => r.includes("jhash"));
    expect(pcc("src-address")).toMatch(/jhash ip saddr mod 4 seed 0x6c626777 map @slots/);
    expect(pcc("both-addresses-and-ports")).toMatch(
      /jhash ip saddr \. ip daddr \. th sport \. th dport mod 4/,
    );
    // refused by check() with the property and a reason, before anything renders
    expect(() => render(seed003({ strategy: "ecmp" }))).toThrow(/"property":"strategy".*RouterOS-only/);
  });

  test("sticky map, pins longest first, bypass folded into the direct set", () => {
    const s = seed003({
      sticky: { timeout: "1d" },
      pins: [
        { destination: "10.0.0.0/8", link: "link1" },
        { destination: "10.1.0.0/16", link: "link2" },
      ],
      bypass: ["10.111.0.0/16"],
    });
    const out = render(s);
    expect(out.nft.objects.find((o) => o.name === "sticky")?.spec).toEqual([
      "type ipv4_addr : mark",
      "size 65535",
      "flags dynamic,timeout",
      "timeout 1d",
    ]);
    // sticky is an idle timeout: every forwarded packet of a remembered LAN user restarts its entry, never
    // creating one (the lab test shows it with traffic)
    expect(rulesOf(s, "egress")[1]).toBe(
      'iifname "lan0" ct mark { 0x00000101, 0x00000102 } ip saddr @sticky update @sticky { ip saddr : ct mark } comment "sticky: each packet of a remembered user restarts its timeout"',
    );
    const pins = rulesOf(s, "prerouting").filter((r) => r.includes("pins:"));
    expect(pins.map((p) => p.split(" ")[2])).toEqual(["10.1.0.0/16", "10.0.0.0/8"]);
    expect(out.nft.objects.find((o) => o.name === "direct")?.elements).toEqual([
      "10.111.0.0/16",
      "10.112.0.1",
      "192.168.0.0/24",
    ]);
  });

  test("the nft file replaces the table in one transaction; the CLI script carries the same pieces", () => {
    const file = nftReplaceFile(d.nft);
    expect(file.split("\n").slice(0, 3)).toEqual([
      "table inet lbgw_gw",
      "delete table inet lbgw_gw",
      "table inet lbgw_gw {",
    ]);
    const sh = renderLinuxScript(seed003(), buildPlan(seed003()));
    expect(sh.startsWith("#!/bin/sh\n")).toBe(true);
    expect(sh).toContain("set -eu");
    expect(sh).toContain(file.trimEnd());
    expect(sh).toContain("route replace default via 10.112.0.1 dev wan2 metric 1 table 102");
    expect(sh).toContain("rule add pref 10101 fwmark 0x101 lookup 101");
    expect(sh).toContain(d.prober.conf.trimEnd());
    execFileSync("sh", ["-n"], { input: sh });
  });

  test("boot.sh is the CLI script without its prober step; it is part of the prober files' identity", () => {
    const sh = renderLinuxScript(seed003(), buildPlan(seed003()));
    const boot = renderLinuxScript(seed003(), buildPlan(seed003()), { prober: false });
    expect(bootScript(d)).toBe(boot);
    const step5 = "\n# 5. The health prober";
    expect(boot).not.toContain(step5);
    expect(boot).not.toContain("LBGW_PROBER");
    // Steps 1-4 are the same text; the CLI script then installs the prober with boot.sh.
    expect(sh.slice(0, sh.indexOf(step5))).toBe(boot.slice(0, boot.lastIndexOf("\necho ") + 1));
    expect(sh).toContain(proberInstallInput(d, boot));
    execFileSync("sh", ["-n"], { input: boot });
    // Sent framed (boot.sh carries framed data itself): no line of it is a marker line.
    expect(boot).toMatch(/^@@lbgw owner$/m);
    expect(proberInstallInput(d, boot)).toContain(`\n|${boot.split("\n")[0]}\n`);
    const sha = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);
    expect(proberFilesHash(d)).toBe(sha(d.prober.script + d.prober.conf + boot));
    expect(desiredLines(d)).toContain(
      `prober /usr/local/lib/lbgw/gw/prober.sh ${proberFilesHash(d)} running`,
    );
  });

  test("the prober's systemd unit restores the configuration (prober.sh boot) before the prober starts", () => {
    const unit = proberUnit("gw").split("\n");
    const pre = unit.indexOf("ExecStartPre=/bin/sh /usr/local/lib/lbgw/gw/prober.sh boot");
    expect(pre).toBeGreaterThan(0);
    expect(pre).toBeLessThan(unit.indexOf("ExecStart=/bin/sh /usr/local/lib/lbgw/gw/prober.sh run"));
    expect(unit).toEqual(
      expect.arrayContaining(["Wants=network-online.target", "After=network-online.target"]),
    );
    // The install job writes exactly this text, with the validated owner and its directory.
    expect(PROBER_INSTALL_SCRIPT).toContain(`<<EOF\n${proberUnit("$owner", "$lib")}EOF\n`);
    expect(d.prober.script).toMatch(/^ {2}boot\) boot ;;$/m);
    expect(d.prober.script).toContain('sh "$HERE/boot.sh"');
  });
});

describe("command lines", () => {
  test("shellQuote leaves plain words bare and single-quotes the rest", () => {
    expect(shellQuote("nft")).toBe("nft");
    expect(shellQuote("-batch")).toBe("-batch");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("$(reboot)")).toBe("'$(reboot)'");
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });

  test("any argv survives a real shell unchanged", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: "binary" }).filter((s) => !s.includes("\0")),
          { maxLength: 5 },
        ),
        (args) => {
          const out = execFileSync("sh", [
            "-c",
            `printf '%s\\0' ${commandLine(["x", ...args]).slice(2)}`.trimEnd(),
          ]);
          const got = out.toString("utf8").split("\0").slice(0, -1);
          expect(args.length === 0 ? [] : got).toEqual(args.length === 0 ? [] : args);
        },
      ),
      { numRuns: 150 },
    );
  });

  test("stdin framing round-trips and refuses marker lines", () => {
    const text = frame({ owner: "gw", set: "a 1\nb 2\n", empty: "" });
    expect(text).toBe("@@lbgw owner\ngw\n@@lbgw set\na 1\nb 2\n@@lbgw empty\n@@lbgw end\n");
    expect(() => frame({ end: "" })).toThrow(/bad section/);
    expect(unframe("noise\n@@lbgw one\nx\ny\n@@lbgw two\n").get("one")).toBe("x\ny");
    expect(() => frame({ conf: "@@lbgw owner\nevil\n" })).toThrow(/marker/);
  });

  test("every remote script refuses an input cut short (a connection dropped while sending it)", () => {
    const d = render(seed003());
    const full = frame({ owner: "gw", script: d.prober.script, conf: d.prober.conf });
    const cuts = [full.length - "@@lbgw end\n".length, Math.floor(full.length / 2), 20];
    for (const text of [READ_SCRIPT, SYSCTL_SCRIPT, PROBER_INSTALL_SCRIPT, TEARDOWN_SCRIPT])
      for (const cut of cuts) {
        const r = spawnSync("sh", ["-c", text, "lbgw"], { input: full.slice(0, cut), encoding: "utf8" });
        expect({ cut, status: r.status, stderr: r.stderr }).toEqual({
          cut,
          status: 65,
          stderr: "lbgw: the input ended early (connection dropped?): nothing was changed\n",
        });
      }
  });
});

describe("host key pinning", () => {
  const blobOf = (line: string) => Buffer.from(line.split(" ")[1], "base64");
  const key = () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
    const type = Buffer.from("ssh-ed25519");
    const len = (b: Buffer) => Buffer.from([0, 0, 0, b.length]);
    return `ssh-ed25519 ${Buffer.concat([len(type), type, len(raw), raw]).toString("base64")} comment`;
  };
  const good = key();
  const other = key();

  test("accepts the configured key or its fingerprint", () => {
    expect(hostKeyCheck(good, "gw")(blobOf(good))).toBeUndefined();
    expect(hostKeyCheck(fingerprint(blobOf(good)), "gw")(blobOf(good))).toBeUndefined();
    expect(fingerprint(blobOf(good))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  test("refuses another key with both fingerprints in the message", () => {
    const expected = fingerprint(blobOf(good));
    const got = fingerprint(blobOf(other));
    expect(hostKeyCheck(good, "192.0.2.10")(blobOf(other))).toBe(
      `host key mismatch for 192.0.2.10: expected ${expected}, got ${got} (ssh-ed25519)`,
    );
    expect(hostKeyCheck(expected, "gw")(blobOf(other))).toBe(
      `host key mismatch for gw: expected ${expected}, got ${got}`,
    );
  });

  test("a malformed hostKey is a configuration error", () => {
    expect(() => hostKeyCheck("not a key", "gw")).toThrow(/hostKey is neither/);
  });
});

describe("read-back and reconcile", () => {
  const d = render(seed003({ sticky: { timeout: "1d" } }));
  const addrs = new Map([
    ["wan1", ["10.111.0.2"]],
    ["wan2", ["10.112.0.2"]],
  ]);
  const ruleJson = (args: string) => {
    const m =
      /^pref (\d+) (?:from (\S+) )?(?:fwmark (\S+) )?(?:iif (\S+) )?lookup (\S+)(?: suppress_prefixlength (\d+))?$/.exec(
        args,
      );
    if (!m) throw new Error(args);
    return {
      priority: Number(m[1]),
      src: m[2] ?? "all",
      ...(m[3] ? { fwmark: m[3] } : {}),
      ...(m[4] ? { iif: m[4] } : {}),
      table: m[5],
      ...(m[6] ? { suppress_prefixlen: Number(m[6]) } : {}),
    };
  };
  /** The device as it is right after a successful apply. */
  const converged = (): DeviceState => ({
    tables: ["inet distro", "inet lbgw_gw"],
    nft: parseNftTable(printTable(d.nft)),
    rules: d.rules.flatMap((r) =>
      r.kind === "fixed"
        ? [ruleJson(`pref ${r.priority} ${r.args}`)]
        : (addrs.get(r.iface) ?? []).map((a) => ruleJson(`pref ${r.priority} from ${a} lookup ${r.table}`)),
    ),
    routes: [...d.routes],
    addrs,
    facts: { interfaces: new Map(), routerTrafficOwners: [] },
    claimText: "",
    recordText: "",
    sysctls: new Map(d.sysctls.map((s) => [s.path, s.value])),
    saved: new Map(d.sysctls.map((s) => [s.path, "0"])),
    prober: { hash: proberFilesHash(d), running: true, maps: [], state: "" },
  });

  test("rule JSON prints back in `ip rule add` form", () => {
    expect(ruleArgs({ priority: 10101, src: "all", fwmark: "0x101", table: "101" })).toBe(
      "pref 10101 fwmark 0x101 lookup 101",
    );
    expect(ruleArgs({ priority: 10000, src: "all", table: "main", suppress_prefixlen: 0 })).toBe(
      "pref 10000 lookup main suppress_prefixlength 0",
    );
    expect(ruleArgs({ priority: 10201, src: "10.0.0.0", srclen: 8, table: "101" })).toBe(
      "pref 10201 from 10.0.0.0/8 lookup 101",
    );
  });

  test("a converged device reads back exactly the desired lines and needs no writes", () => {
    const state = converged();
    expect(actualLines(d, state)).toEqual(desiredLines(d));
    expect(diffState(d, state)).toEqual({
      nft: undefined,
      ipBatch: undefined,
      sysctls: undefined,
      prober: false,
    });
  });

  test("the prober's degraded maps are not drift; anything else in them is", () => {
    const state = converged();
    const slots = state.nft?.objects.find((o) => o.name === "slots");
    if (!slots) throw new Error("no slots");
    slots.elements = slots.elements.map((e) => e.replace(/0x00000101$/, "0x00000102"));
    expect(diffState(d, state).nft).toBeDefined();
    const record = [`hash ${d.prober.hash}`, ...slots.elements.map((e) => `slots ${e}`)];
    state.prober.maps = record;
    expect(actualLines(d, state)).toEqual(desiredLines(d));
    expect(diffState(d, state).nft).toBeUndefined();

    // Exactly what this configuration's prober owns: a record of another configuration (or none), another
    // key, or a value that is not one of the links' marks is drift.
    const driftWith = (maps: string[], elements = slots.elements) => {
      const s = converged();
      const o = s.nft?.objects.find((x) => x.name === "slots");
      if (!o) throw new Error("no slots");
      o.elements = [...elements];
      s.prober.maps = maps;
      return diffState(d, s).nft !== undefined;
    };
    expect(driftWith(record)).toBe(false);
    expect(driftWith(record.slice(1))).toBe(true);
    expect(driftWith(["hash 0123456789abcdef", ...record.slice(1)])).toBe(true);
    const extraKey = [...slots.elements, "4 : 0x00000102"];
    expect(driftWith([record[0], ...extraKey.map((e) => `slots ${e}`)], extraKey)).toBe(true);
    const foreign = slots.elements.map((e, i) => (i === 0 ? e.replace(/0x[0-9a-f]+$/, "0x00000999") : e));
    expect(driftWith([record[0], ...foreign.map((e) => `slots ${e}`)], foreign)).toBe(true);
  });

  test("a removed uplink's recorded sysctls: shown until restored, and the apply restores and forgets them", () => {
    const state = converged();
    expect(diffState(d, state).sysctls).toBeUndefined();
    state.saved.set("net/ipv4/conf/wan3/rp_filter", "1");
    state.sysctls.set("net/ipv4/conf/wan3/rp_filter", "2");
    const c = diffState(d, state);
    // The script gets the wanted values only: whatever else it recorded, it puts back and forgets.
    expect(c.sysctls).toBe(d.sysctls.map((s) => `${s.path} ${s.value}`).join("\n") + "\n");
    expect(c.nft).toBeUndefined();
    expect(c.prober).toBe(false);
    expect(actualLines(d, state)).toEqual([
      ...desiredLines(d).filter((l) => !l.startsWith("prober ")),
      "sysctl net.ipv4.conf.wan3.rp_filter = 2 (to restore: 1)",
      ...desiredLines(d).filter((l) => l.startsWith("prober ")),
    ]);
  });

  test("drift: a hand-edited rule, a removed route, a new DHCP address, a stopped prober", () => {
    const state = converged();
    state.nft?.objects.find((o) => o.name === "egress")?.rules.push("counter packets 0 bytes 0");
    state.routes = state.routes.filter((r) => r !== "default via 10.112.0.1 dev wan2 metric 2 table 101");
    state.addrs = new Map([...addrs, ["wan2", ["10.112.0.99"]]]);
    state.prober.running = false;
    const c = diffState(d, state);
    expect(c.nft).toContain("delete table inet lbgw_gw");
    expect(c.ipBatch?.split("\n").filter(Boolean)).toEqual([
      "route replace default via 10.112.0.1 dev wan2 metric 2 table 101",
      "rule add pref 10202 from 10.112.0.99 lookup 102",
      "rule del pref 10202 from 10.112.0.2 lookup 102",
    ]);
    expect(c.prober).toBe(true);
    const lines = actualLines(d, state);
    expect(lines).toContain("nft inet lbgw_gw chain egress: counter packets 0 bytes 0");
    expect(lines).toContain("ip rule pref 10202 from 10.112.0.2 lookup 102");
    expect(lines).toContain(`prober /usr/local/lib/lbgw/gw/prober.sh ${proberFilesHash(d)} stopped`);
  });

  test("a rollback puts the recorded sysctls back as they were, and restores what the failed apply recorded", () => {
    const before = converged();
    expect(sysctlsToRestore(before, converged())).toBeUndefined();
    const [first] = d.sysctls;
    // The failed apply recorded a new key and changed a recorded one.
    const now = converged();
    now.saved.set("net/ipv4/conf/wan3/rp_filter", "1");
    now.sysctls.set(first.path, "7");
    const input = sysctlsToRestore(before, now);
    expect(input?.split("\n").filter(Boolean)).toEqual(d.sysctls.map((s) => `${s.path} ${s.value}`));
    // Nothing recorded before (a first create): the input is empty, so the script restores every key.
    const fresh = { ...converged(), saved: new Map<string, string>() };
    expect(sysctlsToRestore(fresh, now)).toBe("");
    expect(sysctlsToRestore(fresh, fresh)).toBeUndefined();
  });

  test("nft listing with wrapped elements and a dynamic map parses into the same objects", () => {
    const listing = printTable(d.nft).replace(
      "\t\ttimeout 1d\n",
      "\t\ttimeout 1d\n\t\telements = { 192.168.0.10 timeout 1d expires 23h59m : 0x00000101 }\n",
    );
    expect(parseNftTable(listing)).toEqual(parseNftTable(printTable(d.nft)));
    expect(parseNftTable("")).toBeUndefined();
  });
});

describe("prober slot arithmetic (its own sh + awk)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lbgw-prober-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const maps = (spec: Spec, states: string[]) => {
    const files = renderLinux(buildPlan(spec)).prober;
    fs.writeFileSync(path.join(dir, "prober.sh"), files.script);
    fs.writeFileSync(path.join(dir, "prober.conf"), files.conf);
    const out = execFileSync("sh", [path.join(dir, "prober.sh"), "render-maps", ...states], {
      env: { ...process.env, LBGW_RUN: dir },
    }).toString();
    const elems = (name: string) =>
      out
        .split("\n")
        .find((l) => l.startsWith(`add element inet lbgw_gw ${name} `))
        ?.replace(/^.*\{ (.*) \}$/, "$1")
        .split(", ");
    return { slots: elems("slots") as string[], live: elems("live") as string[] };
  };
  const three = (tier3 = 1) =>
    seed003({
      links: [
        { name: "a", interface: "wan1", gateway: "10.111.0.1", weight: 2, check: check("203.0.113.1") },
        { name: "b", interface: "wan2", gateway: "10.112.0.1", weight: 1, check: check("203.0.113.2") },
        {
          name: "c",
          interface: "wan3",
          gateway: "10.113.0.1",
          weight: 1,
          tier: tier3,
          check: check("203.0.113.3"),
        },
      ],
    });
  const count = (slots: string[], mark: string) => slots.filter((s) => s.endsWith(mark)).length;

  test("boot (the unit's ExecStartPre) runs boot.sh once per boot, and fails when it fails", () => {
    const files = renderLinux(buildPlan(seed003())).prober;
    const run = fs.mkdtempSync(path.join(dir, "run-"));
    fs.writeFileSync(path.join(dir, "prober.sh"), files.script);
    fs.writeFileSync(path.join(dir, "prober.conf"), files.conf);
    const boot = (script: string) => {
      fs.writeFileSync(path.join(dir, "boot.sh"), script);
      return spawnSync("sh", [path.join(dir, "prober.sh"), "boot"], {
        env: { ...process.env, LBGW_RUN: run },
        encoding: "utf8",
      }).status;
    };
    const ran = path.join(run, "ran");
    expect(boot("exit 3\n")).not.toBe(0);
    expect(fs.existsSync(path.join(run, "configured"))).toBe(false);
    expect(boot(`echo x >>${ran}\n`)).toBe(0);
    expect(boot(`echo x >>${ran}\n`)).toBe(0); // configured for this boot: an apply's restart
    expect(fs.readFileSync(ran, "utf8")).toBe("x\n");
    fs.rmSync(path.join(run, "configured")); // a reboot empties /run
    expect(boot(`echo x >>${ran}\n`)).toBe(0);
    expect(fs.readFileSync(ran, "utf8")).toBe("x\nx\n");
  });

  test("all up: exactly the configured slots", () => {
    const d = render(seed003());
    expect(maps(seed003(), []).slots).toEqual(d.nft.objects.find((o) => o.name === "slots")?.elements);
  });

  test("a dead link's slots go to the live links by weight; live map points it at its fallback", () => {
    const m = maps(three(), ["1:0"]);
    expect(m.slots).toHaveLength(4);
    expect(count(m.slots, "0x00000102")).toBe(2);
    expect(count(m.slots, "0x00000103")).toBe(2);
    expect(m.live).toEqual(["0x00000101 : 0x00000102", "0x00000102 : 0x00000102", "0x00000103 : 0x00000103"]);
  });

  test("a whole tier down: the next tier's links get every slot", () => {
    const m = maps(three(2), ["1:0", "2:0"]);
    expect(m.slots.every((s) => s.endsWith("0x00000103"))).toBe(true);
    expect(m.live).toEqual(["0x00000101 : 0x00000103", "0x00000102 : 0x00000103", "0x00000103 : 0x00000103"]);
  });

  test("everything down: the configuration stays (there is nothing better)", () => {
    const d = render(seed003());
    expect(maps(seed003(), ["1:0", "2:0"]).slots).toEqual(
      d.nft.objects.find((o) => o.name === "slots")?.elements,
    );
  });
});

test("anonymous sets and maps compare regardless of the order nft prints their elements in", () => {
  const rendered =
    'ct mark set oifname map { "wan1" : 0x00000101, "wan10" : 0x0000010a, "wan2" : 0x00000102 } goto bind';
  const printed =
    'ct mark set oifname map { "wan10" : 0x0000010a, "wan2" : 0x00000102, "wan1" : 0x00000101 } goto bind';
  expect(canonicalRule(printed)).toBe(canonicalRule(rendered));
  expect(
    canonicalRule('ct mark { 0x00000102, 0x00000101 } meta mark set ct mark return comment "a, b"'),
  ).toBe('ct mark { 0x00000101, 0x00000102 } meta mark set ct mark return comment "a, b"');
});
