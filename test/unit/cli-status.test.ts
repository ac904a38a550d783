/**
 * `lbgw status`: flags, --json, the exit status of an unreachable device (a clear error, status 1), bad
 * usage (status 2), and that no credential (a RouterOS password, an SSH key) is ever printed. `--stack`
 * runs `pulumi stack export --show-secrets` in --cwd: here a stand-in `pulumi` on PATH prints an export
 * whose gateway's target (a Pulumi secret) points at the simulator.
 */
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../cli/lbgw";
import { gatewaysInExport, unwrapSecrets } from "../../cli/status";
import type { GatewayStatus } from "../../provider/common/status";
import { seedNthSticky } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { seedRouter, targetOf, up } from "../routeros/support";

const PASSWORD = "s3cret-Zq9!";
/** A real (throwaway) RSA key in PEM: ssh2 parses the key before it connects. */
const KEY = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "pkcs1", format: "pem" },
}).privateKey;
const KEY_LINE = KEY.split("\n")[1];

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(
    ["status", ...argv],
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), "lbgw-cli-status-"));
const { target: _t, ...args } = seedNthSticky();
const specFile = join(dir, "office.json");
writeFileSync(specFile, JSON.stringify(args));
const keyFile = join(dir, "id_test");
writeFileSync(keyFile, KEY, { mode: 0o600 });

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const noSecrets = (r: { out: string; err: string }) => {
  expect(r.out + r.err).not.toContain(PASSWORD);
  expect(r.out + r.err).not.toContain(KEY_LINE);
};

beforeAll(() => (process.env.LBGW_TEST_PASSWORD = PASSWORD));

describe("usage", () => {
  test("--help prints the flags, status 0", async () => {
    const r = await run("--help");
    expect(r.code).toBe(0);
    for (const flag of ["--stack", "--spec", "--json", "--password-env", "--private-key", "--host-key"])
      expect(r.out).toContain(flag);
  });

  test("neither or both of --stack and --spec, an unknown flag, a password on the command line: status 2", async () => {
    expect((await run()).code).toBe(2);
    expect((await run("--stack", "dev", "--spec", specFile)).code).toBe(2);
    const r = await run("--spec", specFile, "--password", PASSWORD);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Unknown option '--password'/);
  });

  test("a missing password variable and an invalid spec: status 2, said", async () => {
    const a = await run(
      "--spec",
      specFile,
      "--target",
      "routeros",
      "--host",
      "h",
      "--password-env",
      "NOPE_X",
    );
    expect(a).toMatchObject({ code: 2 });
    expect(a.err).toMatch(/environment variable NOPE_X is not set/);
    const b = await run("--spec", specFile, "--target", "routeros", "--user", "u"); // no host
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/target\.routeros\.host/);
  });
});

describe("an unreachable device: a clear error, status 1, no credential printed", () => {
  test("RouterOS: connection refused", async () => {
    const port = await closedPort();
    const r = await run(
      ...["--spec", specFile, "--target", "routeros", "--host", "127.0.0.1", "--port", String(port)],
      ...["--user", "admin", "--password-env", "LBGW_TEST_PASSWORD", "--timeout", "2s", "--json"],
    );
    expect(r.code).toBe(1);
    expect(r.out).toBe("null\n");
    expect(r.err).toMatch(/cannot read .*office\.json: .*127\.0\.0\.1.* refused the connection/);
    noSecrets(r);
  });

  test("Linux: connection refused", async () => {
    const port = await closedPort();
    const r = await run(
      ...["--spec", specFile, "--target", "linux", "--host", "127.0.0.1", "--port", String(port)],
      ...["--private-key", keyFile, "--host-key", "SHA256:AAAA", "--timeout", "2s"],
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/127\.0\.0\.1:\d+ refused the connection/);
    noSecrets(r);
  });
});

describe("against the simulator", () => {
  let sim: RouterOsSim;
  let silence: jest.SpyInstance;
  beforeAll(async () => {
    silence = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    sim = await seedRouter("7.16.2", PASSWORD);
    await up(seedNthSticky({ target: { routeros: { ...targetOf(sim).routeros!, password: PASSWORD } } }));
  });
  afterAll(async () => {
    silence.mockRestore();
    await sim.close();
  });

  const conn = () => [
    ...["--spec", specFile, "--target", "routeros", "--host", sim.host, "--port", String(sim.port)],
    ...["--user", "admin", "--password-env", "LBGW_TEST_PASSWORD"],
  ];

  test("the table: a row per link", async () => {
    const r = await run(...conn());
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toMatch(/^link\s+interface\s+state\s+since\s+last probe\s+connections\s+sticky users$/m);
    expect(r.out).toMatch(/^wlan1\s+wlan1\s+up\s/m);
    expect(r.out).toMatch(/^wlan2\s+wlan2\s+up\s/m);
    noSecrets(r);
  });

  test("--json: the status object", async () => {
    const r = await run(...conn(), "--json");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as GatewayStatus;
    expect(s).toMatchObject({ device: `routeros://${sim.host}:${sim.port}`, owner: "gw" });
    expect(s.links.map((l) => [l.link, l.up, l.lastProbe, l.connections, l.stickyUsers])).toEqual([
      ["wlan1", true, "ok", 0, 0],
      ["wlan2", true, "ok", 0, 0],
    ]);
    noSecrets(r);
  });

  test("a wrong password: status 1, the refusal said, the password not printed", async () => {
    process.env.LBGW_TEST_WRONG = `${PASSWORD}-wrong`;
    const r = await run(...conn().slice(0, -1), "LBGW_TEST_WRONG");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/refused the login/);
    expect(r.out + r.err).not.toContain(PASSWORD);
  });

  test("--stack: the gateways of `pulumi stack export --show-secrets` (run in --cwd), secrets unwrapped", async () => {
    const bin = mkdtempSync(join(tmpdir(), "lbgw-fake-pulumi-"));
    const exported = {
      version: 3,
      deployment: {
        resources: [
          {
            urn: "urn:pulumi:dev::site::pulumi:pulumi:Stack::site-dev",
            type: "pulumi:pulumi:Stack",
            outputs: {},
          },
          {
            urn: "urn:pulumi:dev::site::pulumi-nodejs:dynamic/lbgw:LoadBalancedGateway::office",
            type: "pulumi-nodejs:dynamic/lbgw:LoadBalancedGateway",
            outputs: {
              ...args,
              target: {
                "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                plaintext: JSON.stringify({ routeros: { ...targetOf(sim).routeros, password: PASSWORD } }),
              },
              rules: {},
              device: `routeros://${sim.host}:${sim.port}`,
              ownedEntries: 0,
              instance: "0123456789ab",
              linkStatus: { wlan1: { up: false } },
            },
          },
        ],
      },
    };
    writeFileSync(join(bin, "export.json"), JSON.stringify(exported));
    // Records its arguments and working directory, prints the export.
    writeFileSync(
      join(bin, "pulumi"),
      `#!/bin/sh\nprintf '%s\\n' "$PWD" "$@" >"${bin}/args"\ncat "${bin}/export.json"\n`,
    );
    chmodSync(join(bin, "pulumi"), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const r = await run("--stack", "dev", "--cwd", dir, "--json");
      expect(r).toMatchObject({ code: 0, err: "" });
      const [s] = JSON.parse(r.out) as GatewayStatus[];
      expect(s.links.map((l) => l.up)).toEqual([true, true]);
      noSecrets(r);
      const called = readFileSync(join(bin, "args"), "utf8").trim().split("\n");
      expect(called).toEqual([
        dir,
        "stack",
        "export",
        "--show-secrets",
        "--stack",
        "dev",
        "--non-interactive",
      ]);
      expect((await run("--stack", "dev", "--cwd", dir, "--resource", "nope")).code).toBe(2);
    } finally {
      process.env.PATH = path;
    }
  });
});

test("the export's secrets are unwrapped; an export without plaintext is refused", () => {
  const sig = "4dabf18193072939515e22adb298388d";
  expect(unwrapSecrets({ a: { [sig]: "x", plaintext: '{"b":1}' } })).toEqual({ a: { b: 1 } });
  expect(() => unwrapSecrets({ [sig]: "x", ciphertext: "..." })).toThrow(/--show-secrets/);
  expect(gatewaysInExport({ deployment: { resources: [{ type: "aws:s3:Bucket", outputs: {} }] } })).toEqual(
    [],
  );
});
