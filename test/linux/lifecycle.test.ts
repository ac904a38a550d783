/**
 * Life-cycle safety on a real Linux gateway (the namespace lab, a real sshd, real traffic), through the real
 * provider module as the engine drives it: a replace that lands on the same gateway (its address spelled as
 * a name) keeps the configuration in place while a TCP stream runs through the NAT without a single
 * retransmission; a second claim of the owner is refused before any write; the spec is checked against the
 * gateway before any write. Runs as root (CI does); anywhere else it is skipped with a loud banner.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CREDENTIAL_PLACEHOLDER, importGateway } from "../../plugin/import";
import * as provider from "../../provider/index";
import { createLab, ensureLabDeps, type Lab } from "../../labs/linux-lab";
import {
  Stream,
  exampleArgs,
  hostsName,
  labBackend,
  labSpec,
  labTarget,
  rootSuite,
  streamRetransmissions,
} from "./support";

const suite = rootSuite("Linux life-cycle tests");

jest.setTimeout(120_000);

const PORT = 7799;
type Props = Record<string, unknown>;

suite("Linux: a resource only removes what it holds", () => {
  let lab: Lab;
  let owner: string;
  /** A name for the gateway's management address, in /etc/hosts for this file. */
  let gwName: ReturnType<typeof hostsName>;
  let stream: Stream;
  let silence: jest.SpyInstance;

  const args = () => ({ owner, ...exampleArgs(lab) });
  const checked = async (target: Props, holder: string, extra: Props = {}) => {
    const r = await provider.check({}, { ...args(), target: { linux: target }, holder, ...extra });
    if (r.failures.length) throw new Error(JSON.stringify(r.failures));
    return r.inputs;
  };
  /** The owned configuration as the backend reads it (nft, rules, routes, sysctls, prober). */
  const ownedLines = async () =>
    (await labBackend(labSpec(lab, owner, exampleArgs(lab)))).read(() => undefined);
  const claimFile = async () => (await lab.exec("gw", ["cat", `/usr/local/lib/lbgw/${owner}/claim`])).stdout;

  beforeAll(async () => {
    silence = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    await ensureLabDeps();
    lab = await createLab({ uplinks: 2, clients: 2, label: "test/linux/lifecycle.test.ts" });
    owner = `c${lab.id}`;
    gwName = hostsName(lab, "test/linux/lifecycle.test.ts");
  }, 300_000);

  afterAll(async () => {
    stream?.stop();
    gwName?.remove();
    if (lab) await lab.destroy();
    silence?.mockRestore();
  }, 120_000);

  test("the gateway's address respelt as a name: replaced in place, the NAT stream never interrupted", async () => {
    const first = await checked(labTarget(lab), "tests/dev/office");
    const created = await provider.create(first);
    const outs = created.outs as Props;
    expect(await claimFile()).toBe(`instance=${outs.instance as string} holder=tests/dev/office\n`);

    stream = await Stream.through(lab, PORT);
    const before = await ownedLines();

    // What the engine does: diff says replace (another device string), create the new, delete the old.
    const respelt = await checked(labTarget(lab, { host: gwName.name }), "tests/dev/office");
    const d = await provider.diff(created.id as string, outs, respelt);
    expect(d.replaces).toEqual(["device"]);
    const replaced = await provider.create(respelt);
    await provider.remove(created.id as string, outs);
    await new Promise((r) => setTimeout(r, 300));

    expect(await ownedLines()).toEqual(before);
    expect(await claimFile()).toContain(`instance=${(replaced.outs as Props).instance as string} `);
    expect({ closed: stream.closed, retrans: await streamRetransmissions(lab, PORT) }).toEqual({
      closed: false,
      retrans: 0,
    });
    expect(stream.worstSinceLast()).toBeLessThan(1000);
  });

  test("a second stack claiming the owner is refused before any write; its destroy leaves the first intact", async () => {
    const before = await ownedLines();
    const second = await checked(labTarget(lab), "tests/other-stack/office");
    await expect(provider.create(second)).rejects.toThrow(
      new RegExp(
        `owner "${owner}" on linux://${lab.ssh.host.replace(/\./g, "\\.")}:\\d+ is held by resource tests/dev/office`,
      ),
    );
    await provider.remove("x", { ...second, instance: "0123456789ab" });
    expect(await ownedLines()).toEqual(before);
  });

  test("two resources of one stack with one owner: the second is refused", async () => {
    const twin = await checked(labTarget(lab), "tests/dev/office-copy");
    await expect(provider.create(twin)).rejects.toThrow(/is held by resource tests\/dev\/office /);
  });

  test("the spec is checked against the gateway before any write", async () => {
    const before = await ownedLines();
    const a = lab.addresses;
    const bad = {
      ...exampleArgs(lab),
      lan: { interfaces: ["br-missing"], networks: [a.lanNet] },
    };
    (bad.links as Array<Record<string, unknown>>)[0] = { ...bad.links[0], gateway: "203.0.113.77" };
    const r = await provider.check(
      {},
      { owner, ...bad, target: { linux: labTarget(lab) }, holder: "tests/dev/office" },
    );
    expect(r.failures).toEqual([]);
    const err = (await provider.update("x", {}, r.inputs).catch((e) => e)) as Error;
    expect(err.message).toMatch(/lan\.interfaces\[0\]: interface "br-missing" does not exist on linux:\/\//);
    expect(err.message).toMatch(
      new RegExp(
        `links\\[0\\] \\("[^"]+"\\)\\.gateway: 203\\.0\\.113\\.77 is outside every subnet on ${a.uplinks[0].iface} \\(`,
      ),
    );
    expect(await ownedLines()).toEqual(before);
  });

  test("an import rebuilds the resource from the gateway alone: its arguments, rules and claim", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lbgw-import-key-"));
    const keyFile = path.join(dir, "id");
    fs.writeFileSync(keyFile, lab.ssh.privateKey, { mode: 0o600 });
    try {
      const env = { LBGW_SSH_HOST_KEY: lab.ssh.hostKey, LBGW_SSH_PRIVATE_KEY: keyFile };
      const r = await importGateway(`${owner}@linux://${lab.ssh.host}:${lab.ssh.port}`, env);
      const props = r.props as { rules: Record<string, string>; instance: string; holder: string };
      expect(Object.values(props.rules).sort()).toEqual((await ownedLines()).sort());
      expect(await claimFile()).toBe(`instance=${props.instance} holder=${props.holder}\n`);
      const inputs = r.inputs as { links: unknown; target: { linux: Props } };
      expect(inputs.links).toEqual(labSpec(lab, owner, exampleArgs(lab)).links);
      expect(inputs.target.linux).toMatchObject({ host: lab.ssh.host, hostKey: lab.ssh.hostKey });
      expect(inputs.target.linux.privateKey).toBe(CREDENTIAL_PLACEHOLDER);
      // without the host key the import is refused before it connects
      await expect(importGateway(`${owner}@linux://${lab.ssh.host}:${lab.ssh.port}`, {})).rejects.toThrow(
        /LBGW_SSH_HOST_KEY/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
