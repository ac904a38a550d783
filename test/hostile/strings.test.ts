/**
 * Hostile strings (quotes, semicolons, newlines, `$()`, backticks, `=`-words, NUL, RTL override, emoji,
 * other unicode) in EVERY string field of the arguments, RouterOS and Linux targets:
 *
 * - rejected by check(): a failure names the field, and create() refuses before contacting anything (the
 *   simulator logs no sentence and no connection; the SSH stand-in sees no connection);
 * - accepted (credentials, TLS and host-key text, or values that stay inside the safe character set):
 *   RouterOS: the simulator's log of exactly what it received has the same commands and attribute names as
 *   a run with a benign value, and the value only inside attribute values (one API word each), unchanged
 *   after node-routeros' win1252 encoding (credentials outside win1252 are refused: the tests below);
 *   Linux (as root, on the namespace lab's real sshd): every command line ssh2 sent is one of the
 *   provider's constant command lines, and the data on stdin is the same as with benign credentials.
 */
import { rootSuite } from "../skip";
import * as net from "node:net";
import fc from "fast-check";
import * as provider from "../../provider/index";
import {
  CLAIM_SCRIPT,
  PROBER_INSTALL_SCRIPT,
  READ_SCRIPT,
  STATUS_SCRIPT,
  SYSCTL_SCRIPT,
  TEARDOWN_SCRIPT,
  script,
} from "../../provider/linux/remote";
import { commandLine } from "../../provider/linux/session";
import type { SpecInput } from "../../provider/spec/schema";
import { seedNthSticky } from "../fixtures/specs";
import type { LogEntry, RouterOsSim } from "../../labs/routeros-sim";
import { createLab, ensureLabDeps, type Lab } from "../../labs/linux-lab";
import { FOREIGN, seedRouter, targetOf } from "../routeros/support";
import { startRouterOsSim } from "../../labs/routeros-sim";
import { selfSignedCert } from "../../labs/routeros-sim/self-signed";
import type { Path } from "./arbitraries";
import { formatPath, getAt, hostileString, setAt, stringPaths } from "./arbitraries";

jest.setTimeout(300_000);

type Props = Record<string, unknown>;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** What node-routeros puts on the wire for a string (win1252), as the simulator reads it back (latin1). */
function onTheWire(s: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const iconv = require("iconv-lite") as { encode(s: string, enc: string): Buffer };
  return iconv.encode(s, "win1252").toString("latin1");
}

/** Commands and attribute names of a log: what a value must never change. */
const shape = (log: LogEntry[]) =>
  log.map((e) => `${e.command} ${Object.keys(e.attrs).sort().join(",")} ${e.queries.join(" ")}`);

/** Every field of the resource that holds a string, on a spec that uses them all. */
function routerOsBase(sim: RouterOsSim): SpecInput {
  return seedNthSticky({
    target: { routeros: { ...targetOf(sim).routeros!, timeout: "2s" } },
    routerTraffic: "wlan1",
    pins: [{ destination: "203.0.113.53/32", link: "wlan2" }],
    bypass: ["172.16.0.0/12"],
  });
}

/** Extra variants so that optional string fields exist: tls (ca, servername), pcc's hash. */
const VARIANTS: Array<(s: Props) => void> = [
  () => undefined,
  (s) => Object.assign((s.target as Props).routeros as Props, { tls: { ca: "-----BEGIN CERTIFICATE-----" } }),
  (s) =>
    Object.assign((s.target as Props).routeros as Props, {
      tls: { insecure: true, servername: "router.test" },
    }),
  (s) => Object.assign(s, { strategy: "pcc", hash: "both-addresses", sticky: false }),
];

/**
 * A failure names the field, or the union/object holding it (tls, nat, sticky); a renamed link may instead
 * be reported where it is referred to (routerTraffic, pins[k].link now name no link).
 */
const names = (property: string, path: Path) => {
  const p = formatPath(path);
  if (p === property || p.startsWith(`${property}.`) || p.startsWith(`${property}[`)) return true;
  return /^links\[\d+\]\.name$/.test(p) && /^(routerTraffic|pins\[\d+\]\.link)$/.test(property);
};

describe("RouterOS: hostile strings in every string field", () => {
  let sim: RouterOsSim;
  let silence: jest.SpyInstance;
  let cert: { key: string; cert: string };
  const accepted = new Map<string, number>();
  const rejected = new Map<string, number>();

  beforeAll(async () => {
    silence = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    sim = await seedRouter("7.16.2");
    cert = (await selfSignedCert("router.test")) as { key: string; cert: string };
  });
  afterAll(async () => {
    silence.mockRestore();
    await sim.close();
    process.stdout.write(
      `hostile strings, RouterOS: rejected in ${[...rejected].map(([k, n]) => `${k} (${n})`).join(", ")}\n` +
        `  accepted (proved to travel as data) in ${[...accepted].map(([k, n]) => `${k} (${n})`).join(", ")}\n`,
    );
  });

  const cases = fc.integer({ min: 0, max: VARIANTS.length - 1 }).chain((v) => {
    const spec = routerOsBase(sim) as unknown as Props;
    VARIANTS[v](spec);
    const paths = stringPaths(spec);
    return fc
      .constantFrom(...paths)
      .chain((path) => fc.tuple(fc.constant(v), fc.constant(path), hostileString(String(getAt(spec, path)))));
  });

  /** One create against a fresh router (speaking TLS when the spec asks for it): the log of what it received. */
  async function createOn(spec: Props): Promise<{ log: LogEntry[]; error?: string }> {
    const tls = !!((spec.target as Props).routeros as Props).tls;
    const fresh = tls
      ? await startRouterOsSim({
          version: "7.16.2",
          tls: cert,
          username: "admin",
          password: "s3cret",
          interfaces: ["Local", "wlan1", "wlan2"].map((name) => ({ name })),
          seed: {
            "/ip/address": [
              { address: "192.168.0.1/24", interface: "Local" },
              { address: "10.111.0.2/24", interface: "wlan2" },
              { address: "10.112.0.2/24", interface: "wlan1" },
            ],
            "/ip/firewall/mangle": [FOREIGN.mangle],
          },
        })
      : await seedRouter("7.16.2");
    try {
      const t = (spec.target as Props).routeros as Props;
      t.port = fresh.port;
      const checked = await provider.check({}, spec);
      if (checked.failures.length) throw new Error(`unexpected: ${JSON.stringify(checked.failures)}`);
      const error = await provider.create(checked.inputs).then(
        () => undefined,
        (e: Error) => e.message,
      );
      return { log: [...fresh.log], error };
    } finally {
      await fresh.close();
    }
  }

  test("rejected ones never reach the router; accepted ones reach it only as data inside one API word", async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ([v, path, hostile]) => {
        const spec = routerOsBase(sim) as unknown as Props;
        VARIANTS[v](spec);
        const benign = clone(spec);
        setAt(spec, path, hostile);
        const field = formatPath(path);
        const r = await provider.check({}, spec);
        if (r.failures.length) {
          rejected.set(field, (rejected.get(field) ?? 0) + 1);
          expect(r.failures.some((f) => names(f.property, path) && f.reason.length > 0)).toBe(true);
          const before = { log: sim.log.length, connections: sim.stats().connections };
          await expect(provider.create(spec)).rejects.toThrow(/invalid arguments/);
          expect({ log: sim.log.length, connections: sim.stats().connections }).toEqual(before);
          return;
        }
        accepted.set(field, (accepted.get(field) ?? 0) + 1);
        const credential = /^target\.routeros\.(username|password|tls\.ca|tls\.servername)$/.test(field);
        if (!credential) {
          // a value kept within the safe set (e.g. "wlan1." or "Lo..cal"): it needs no quoting anywhere
          expect(hostile).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.@:/-]*$/);
          const run = await createOn(clone(spec));
          for (const e of run.log)
            if (hostile.length > 2 && !/^(add|set|print|remove|move|login)$/.test(hostile)) {
              expect(e.command).not.toContain(hostile);
              for (const k of Object.keys(e.attrs)) expect(k).not.toContain(hostile);
            }
          return;
        }
        // the same field with another benign value gives the same commands and attribute names
        setAt(
          benign,
          path,
          /(username|password)$/.test(field) ? "benign-other" : String(getAt(benign, path)),
        );
        const [hostileRun, benignRun] = [await createOn(clone(spec)), await createOn(benign)];
        expect(shape(hostileRun.log)).toEqual(shape(benignRun.log));
        // where it arrived, it is the whole value of an attribute (one API word), unchanged
        const wire = onTheWire(hostile);
        // (a short value like "/" or "=" occurs in every command by itself: only longer ones are telling)
        const telling = hostile.length > 2 && !benignRun.log.some((e) => e.command.includes(hostile));
        for (const e of hostileRun.log) {
          if (telling) expect(e.command).not.toContain(hostile);
          for (const k of Object.keys(e.attrs)) if (telling) expect(k).not.toContain(hostile);
        }
        // a CA that is not a certificate fails the TLS handshake: nothing reached the router (both runs)
        const login = hostileRun.log.find((e) => e.command === "/login");
        if (login && field.endsWith("username")) expect(login.attrs.name).toBe(wire);
        if (login && field.endsWith("password")) expect(login.attrs.password).toBe(wire);
      }),
      { numRuns: 300 },
    );
    // what must be refused was, and credentials were accepted
    for (const f of [
      "owner",
      "links[0].name",
      "links[0].interface",
      "links[0].gateway",
      "lan.interfaces[0]",
      "target.routeros.host",
    ])
      expect(rejected.get(f) ?? 0).toBeGreaterThan(0);
    for (const f of ["target.routeros.username", "target.routeros.password"])
      expect(accepted.get(f) ?? 0).toBeGreaterThan(0);
  });
});

// node-routeros encodes every word as win1252, so a credential with characters outside win1252 would reach
// the router altered ("p😀" and "p😃" both as "p??"): the router could never accept it, and distinct
// passwords would collide. check() refuses it, naming the field and the reason but never the value, and
// create() refuses before contacting the router.
test.each([
  ["password", "p\u{1F600}"],
  ["password", "пароль"],
  ["username", "adm\u{1F600}n"],
])("a RouterOS %s outside win1252 (%j) is refused by check(), without showing it", async (field, secret) => {
  const sim = await seedRouter("7.16.2");
  try {
    const spec = routerOsBase(sim) as unknown as Props;
    ((spec.target as Props).routeros as Props)[field] = secret;
    const r = await provider.check({}, spec);
    expect(r.failures).toEqual([
      { property: `target.routeros.${field}`, reason: expect.stringMatching(/outside Windows-1252/) },
    ]);
    const error = await provider.create(spec).then(
      () => "",
      (e: Error) => e.message,
    );
    expect(error).toMatch(
      new RegExp(`invalid arguments: target\\.routeros\\.${field}: .*outside Windows-1252`),
    );
    for (const text of [JSON.stringify(r.failures), error])
      for (const c of [...secret].filter((ch) => ch > "\x7f")) expect(text).not.toContain(c);
    expect(JSON.stringify(r.failures)).not.toContain(secret);
    expect(sim.log).toEqual([]);
    expect(sim.stats().connections).toBe(0);
  } finally {
    await sim.close();
  }
});

test("a RouterOS password of win1252 characters beyond ASCII is accepted and arrives as its win1252 bytes", async () => {
  const sim = await seedRouter("7.16.2", "pässwörd€");
  jest.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    const spec = routerOsBase(sim) as unknown as Props;
    ((spec.target as Props).routeros as Props).password = "pässwörd€";
    const r = await provider.check({}, spec);
    expect(r.failures).toEqual([]);
    await provider.create(r.inputs);
    const login = sim.log.find((e) => e.command === "/login");
    expect(login?.attrs.password).toBe(onTheWire("pässwörd€"));
  } finally {
    jest.restoreAllMocks();
    await sim.close();
  }
});

// --- Linux -----------------------------------------------------------------------------------------------

const LINUX_BASE = (host: string, port: number, privateKey = "", hostKey = "SHA256:x"): SpecInput => ({
  owner: "hostile",
  target: { linux: { host, port, privateKey, password: "benign-password", hostKey, timeout: "5s" } },
  lan: { interfaces: ["lan0"], networks: ["192.168.0.0/24"] },
  links: [
    { name: "link1", interface: "wan1", gateway: "10.111.0.1", check: { targets: ["203.0.113.1"] } },
    { name: "link2", interface: "wan2", gateway: "10.112.0.1", check: { targets: ["203.0.113.2"] } },
  ],
  routerTraffic: "link1",
  pins: [{ destination: "203.0.113.53/32", link: "link2" }],
  bypass: ["172.16.0.0/12"],
  strategy: "pcc",
  hash: "both-addresses",
});

/** Credentials and connection text: accepted by check() as data; everything else must be refused. */
const LINUX_DATA = ["password", "privateKey", "privateKeyPassword", "agentSocketPath", "hostKey"].map(
  (k) => `target.linux.${k}`,
);

describe("Linux: hostile strings in every string field", () => {
  let standIn: net.Server;
  let connections = 0;
  let port: number;
  let silence: jest.SpyInstance;

  beforeAll(async () => {
    silence = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    standIn = net.createServer((c) => {
      connections++;
      c.destroy();
    });
    await new Promise<void>((r) => standIn.listen(0, "127.0.0.1", r));
    port = (standIn.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    silence.mockRestore();
    await new Promise<void>((r) => standIn.close(() => r()));
  });

  test("every field but credentials, TLS/host-key text refuses them before any connection", async () => {
    const base = LINUX_BASE("127.0.0.1", 0) as unknown as Props;
    (base.target as { linux: Props }).linux.privateKeyPassword = "benign";
    (base.target as { linux: Props }).linux.agentSocketPath = "/run/agent.sock";
    (base.target as { linux: Props }).linux.user = "root";
    const paths = stringPaths(base).filter((p) => !LINUX_DATA.includes(formatPath(p)));
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...paths)
          .chain((p) => fc.tuple(fc.constant(p), hostileString(String(getAt(base, p))))),
        async ([path, hostile]) => {
          const spec = clone(base);
          ((spec.target as Props).linux as Props).port = port;
          setAt(spec, path, hostile);
          const r = await provider.check({}, spec);
          if (r.failures.length === 0) {
            // stays within the safe set (e.g. "link1." or "link1@"): such names need no quoting anywhere
            expect(String(getAt(spec, path))).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.@:/-]*$/);
            return;
          }
          expect(r.failures.some((f) => names(f.property, path))).toBe(true);
          const before = connections;
          await expect(provider.create(spec)).rejects.toThrow(/invalid arguments/);
          expect(connections).toBe(before);
        },
      ),
      { numRuns: 400 },
    );
  });

  rootSuite("hostile credentials on the lab's sshd")("on the namespace lab's sshd", () => {
    let lab: Lab;
    const lines: string[] = [];
    const inputs: string[] = [];
    let restore: () => void;

    beforeAll(async () => {
      await ensureLabDeps();
      lab = await createLab({ uplinks: 2, clients: 1, label: "test/hostile/strings.test.ts" });
      // Record what ssh2 sends: every exec command line and every stdin.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Client } = require("ssh2") as typeof import("ssh2");
      const original = Client.prototype.exec;
      Client.prototype.exec = function (
        this: InstanceType<typeof Client>,
        command: string,
        ...rest: unknown[]
      ) {
        lines.push(command);
        const cb = rest[rest.length - 1] as (
          err: Error | undefined,
          stream: { end(d?: unknown): unknown },
        ) => void;
        const wrapped = (err: Error | undefined, stream: { end(d?: unknown): unknown }) => {
          if (stream) {
            const end = stream.end.bind(stream);
            stream.end = (d?: unknown) => {
              inputs.push(String(d ?? ""));
              return end(d);
            };
          }
          cb(err, stream);
        };
        return (original as (...a: unknown[]) => unknown).call(
          this,
          command,
          ...rest.slice(0, -1),
          wrapped,
        ) as InstanceType<typeof Client>;
      } as typeof original;
      restore = () => (Client.prototype.exec = original);
    }, 120_000);
    afterAll(async () => {
      restore?.();
      await lab?.destroy();
    });

    const allowed = () =>
      new Set(
        [
          script(READ_SCRIPT),
          script(STATUS_SCRIPT),
          script(SYSCTL_SCRIPT),
          script(CLAIM_SCRIPT),
          script(PROBER_INSTALL_SCRIPT),
          script(TEARDOWN_SCRIPT),
          ["nft", "-f", "-"],
          ["ip", "-4", "-batch", "-"],
          ["true"],
        ].map(commandLine),
      );

    const labSpec = (over: Record<string, string>): Props => {
      const a = lab.addresses;
      const s = LINUX_BASE(
        lab.ssh.host,
        lab.ssh.port,
        lab.ssh.privateKey,
        lab.ssh.hostKey,
      ) as unknown as Props;
      const linux = (s.target as Props).linux as Props;
      delete linux.password;
      // A value that makes the connection fail waits out the command timeout: keep the property bounded.
      linux.timeout = "5s";
      Object.assign(linux, over);
      s.owner = `h${lab.id}`;
      s.lan = { interfaces: [a.lanIface], networks: [a.lanNet] };
      (s.links as Props[]).forEach((l, i) => {
        Object.assign(l, {
          interface: a.uplinks[i].iface,
          gateway: a.uplinks[i].gateway,
          check: { targets: [a.uplinks[i].probeTarget] },
        });
      });
      return s;
    };

    async function run(
      over: Record<string, string>,
      op: "apply" | "read",
    ): Promise<{ lines: string[]; inputs: string[]; error?: string }> {
      lines.length = 0;
      inputs.length = 0;
      const spec = labSpec(over);
      const checked = await provider.check({}, spec);
      expect(checked.failures).toEqual([]);
      const error = await (
        op === "apply"
          ? // the engine deletes with the outputs create returned (they carry the instance of the claim)
            provider.create(checked.inputs).then((c) => provider.remove("x", c.outs as Props))
          : provider.read("x", checked.inputs)
      ).then(
        () => undefined,
        (e: Error) => e.message,
      );
      return { lines: [...lines], inputs: [...inputs], error };
    }

    test("a full create and delete with hostile credentials: constant command lines, the same stdin", async () => {
      const hostile = "x'; touch /tmp/lbgw-pwned; echo $(id) `id` \"\n\u202E\u{1F600}";
      const benign = await run({}, "apply");
      expect(benign.error).toBeUndefined();
      const evil = await run(
        { password: hostile, hostKey: `${lab.ssh.hostKey} ${hostile}`, privateKeyPassword: hostile },
        "apply",
      );
      expect(evil.error).toBeUndefined();
      for (const l of evil.lines) expect(allowed().has(l)).toBe(true);
      expect(evil.lines).toEqual(benign.lines);
      // each create is a new instance of the claim: its id is the one expected difference
      const sameBut = (inputs: string[]) => inputs.map((i) => i.replace(/instance=[0-9a-f]+/g, "instance=…"));
      expect(sameBut(evil.inputs)).toEqual(sameBut(benign.inputs));
      expect((await lab.exec("gw", ["sh", "-c", "ls /tmp/lbgw-pwned 2>/dev/null || true"])).stdout).toBe("");
    });

    test("property: hostile password / host-key comment / key passphrase / agent path never reach a command line", async () => {
      const benign = await run({}, "read");
      expect(benign.error).toBeUndefined();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("password", "hostKey", "privateKeyPassword", "agentSocketPath"),
          hostileString(),
          async (field, hostile) => {
            const value = field === "hostKey" ? `${lab.ssh.hostKey} ${hostile}` : hostile;
            const r = await run({ [field]: value }, "read");
            for (const l of r.lines) expect(allowed().has(l)).toBe(true);
            if (r.error === undefined) expect(r.inputs).toEqual(benign.inputs);
            // a refused connection (e.g. an agent socket that does not exist) ran nothing at all
            else expect(r.lines).toEqual([]);
          },
        ),
        // Fixed seed: CI must not depend on which hostile strings a run happens to draw (some make the
        // connection wait out the timeout); change the seed locally to explore other inputs.
        { numRuns: 12, seed: 20261122 },
      );
    });
  });
});
