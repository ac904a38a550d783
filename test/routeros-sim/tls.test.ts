import { RawRosClient, RouterOsSim, startRouterOsSim } from "../../labs/routeros-sim";
import { connectNodeRouteros } from "../../labs/routeros-sim/node-routeros-client";
import { selfSignedCert } from "../../labs/routeros-sim/self-signed";

describe("TLS (api-ssl)", () => {
  let sim: RouterOsSim;
  beforeAll(async () => {
    sim = await startRouterOsSim({ version: "7.16.2", tls: await selfSignedCert(), password: "tls-pw" });
  });
  afterAll(() => sim.close());

  test("node-routeros connects over TLS (given the port explicitly) and works", async () => {
    const client = await connectNodeRouteros(sim, { tls: true, password: "tls-pw" });
    const [{ ret }] = await client.api.write("/ip/firewall/address-list/add", [
      "=list=tls",
      "=address=1.2.3.4",
    ]);
    expect(
      await client.api.write("/ip/firewall/address-list/print", [`?.id=${ret}`, "=.proplist=list"]),
    ).toEqual([{ list: "tls" }]);
    await client.close();
  });

  test("the raw client speaks the protocol inside TLS; plain TCP to the TLS port gets nothing", async () => {
    const raw = await RawRosClient.connect({ host: sim.host, port: sim.port, tls: true });
    await raw.login("admin", "tls-pw");
    expect((await raw.command(["/system/identity/print"])).re).toEqual([{ name: "MikroTik" }]);
    await raw.close();
    const plain = await RawRosClient.connect({ host: sim.host, port: sim.port, timeoutMs: 300 });
    await expect(plain.command(["/login", "=name=admin", "=password=tls-pw"])).rejects.toThrow();
    plain.destroy();
  });
});
