/** The lab's address plan and batches: pure, so this runs everywhere (no root needed). */
import {
  LAB_NS_RE,
  MAX_UPLINKS,
  allNamespaces,
  gwBatch,
  inetBatch,
  ispBatch,
  lanBatch,
  mgmtGuardRuleset,
  planLab,
  rootLinkBatch,
  sysctlsFor,
} from "../../labs/linux-lab/topology";

const base = { id: "a1b2c3", uplinks: 2, clients: 3, mgmtBlock: { a: 7, b: 5 }, serverPort: 80, sshPort: 22 };

describe("lab address plan", () => {
  test("names, addresses and the management /30", () => {
    const p = planLab(base);
    expect(p.ns).toEqual({
      lan: "lbgw-a1b2c3-lan",
      gw: "lbgw-a1b2c3-gw",
      isps: ["lbgw-a1b2c3-isp1", "lbgw-a1b2c3-isp2"],
      inet: "lbgw-a1b2c3-inet",
    });
    expect(p.lan.clients).toEqual(["192.168.0.10", "192.168.0.11", "192.168.0.12"]);
    expect(p.uplinks[1]).toMatchObject({
      iface: "wan2",
      address: "10.112.0.2",
      gateway: "10.112.0.1",
      net: "10.112.0.0/24",
      probeTarget: "203.0.113.2",
    });
    expect(p.mgmt).toMatchObject({
      rootAddress: "169.254.7.21",
      gwAddress: "169.254.7.22",
      net: "169.254.7.20/30",
    });
    for (const n of allNamespaces(p)) expect(n).toMatch(LAB_NS_RE);
  });

  test("every interface name fits IFNAMSIZ, also for the longest id and 16 uplinks", () => {
    const p = planLab({ ...base, id: "abcdefgh", uplinks: MAX_UPLINKS });
    const names = rootLinkBatch(p)
      .join(" ")
      .match(/name (\S+)/g)!
      .map((s) => s.slice(5));
    expect(names).toContain("wan16");
    for (const n of [...names, p.mgmt.rootIface]) expect(n.length).toBeLessThanOrEqual(15);
  });

  test("rejects bad counts, ids and management blocks", () => {
    expect(() => planLab({ ...base, uplinks: 1 })).toThrow(RangeError);
    expect(() => planLab({ ...base, uplinks: 17 })).toThrow(RangeError);
    expect(() => planLab({ ...base, clients: 0 })).toThrow(RangeError);
    expect(() => planLab({ ...base, clients: 241 })).toThrow(RangeError);
    expect(() => planLab({ ...base, id: "Bad-Id" })).toThrow(RangeError);
    expect(() => planLab({ ...base, mgmtBlock: { a: 169, b: 0 } })).toThrow(RangeError);
  });

  test("gateway starts without default route unless asked; sysctls follow the initial state", () => {
    const p = planLab(base);
    expect(gwBatch(p, {}).some((l) => l.startsWith("route"))).toBe(false);
    expect(gwBatch(p, { defaultRoute: 2 })).toContain("route add default via 10.112.0.1 dev wan2");
    expect(sysctlsFor("gw", {})).toEqual(
      expect.arrayContaining([
        "net.ipv4.ip_forward=1",
        "net.ipv4.conf.all.rp_filter=2",
        "net.ipv4.conf.all.src_valid_mark=0",
      ]),
    );
    expect(sysctlsFor("gw", { rpFilter: 1, forwarding: false, srcValidMark: true })).toEqual(
      expect.arrayContaining([
        "net.ipv4.ip_forward=0",
        "net.ipv4.conf.default.rp_filter=1",
        "net.ipv4.conf.all.src_valid_mark=1",
      ]),
    );
    expect(sysctlsFor("isp", {})).toContain("net.ipv4.ip_forward=1");
  });

  test("ISPs do not masquerade, inet has no default route, probe targets answer only their ISP", () => {
    const p = planLab(base);
    expect(ispBatch(p.uplinks[0]).join("\n")).not.toMatch(/masquerade|nat/);
    const inet = inetBatch(p);
    expect(inet.some((l) => /route add default/.test(l))).toBe(false);
    expect(inet).toContain("route add 10.111.0.0/24 via 100.64.1.1 dev isp1");
    expect(inet).toContain("rule add pref 10 iif isp2 to 203.0.113.2/32 table local");
    expect(inet.indexOf("rule add pref 100 table local")).toBeLessThan(
      inet.indexOf("rule del pref 0 table local"),
    );
    expect(lanBatch(p)).toContain("addr add 192.168.0.12/24 dev eth0");
  });

  test("the root end of the management link accepts only the gateway's address", () => {
    const p = planLab(base);
    const g = mgmtGuardRuleset(p);
    expect(g).toContain('hook ingress device "lbgwa1b2c3m"');
    expect(g).toContain("policy drop");
    expect(g).toContain("ip saddr 169.254.7.22 accept");
  });
});
