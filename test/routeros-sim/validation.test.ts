import { RawRosClient, RouterOsSim, startRouterOsSim } from "../../labs/routeros-sim";
import { NodeRouterosClient, connectNodeRouteros } from "../../labs/routeros-sim/node-routeros-client";

/** The seeds' address plan (shared/notes/seeds-and-errata.md). */
const LAB = {
  interfaces: [{ name: "Local" }, { name: "wlan1" }, { name: "wlan2" }],
  seed: {
    "/ip/address": [
      { address: "192.168.0.1/24", interface: "Local" },
      { address: "10.111.0.2/24", interface: "wlan2" },
      { address: "10.112.0.2/24", interface: "wlan1" },
    ],
  },
};

let sim: RouterOsSim;
let client: NodeRouterosClient;
const write = (cmd: string, ...words: string[]) => client.api.write(cmd, words);

async function boot(version: string, extra: Parameters<typeof startRouterOsSim>[0] = {}): Promise<void> {
  sim = await startRouterOsSim({ version, ...LAB, ...extra });
  client = await connectNodeRouteros(sim);
}
afterEach(async () => {
  await client?.close();
  await sim?.close();
});

describe("unknown parameters and atomicity", () => {
  test("v7 names the unknown parameter, v6 does not; nothing is applied", async () => {
    await boot("7.16.2");
    await expect(write("/ip/firewall/mangle/add", "=chain=prerouting", "=colour=red")).rejects.toThrow(
      /^unknown parameter colour$/,
    );
    expect(sim.entries("/ip/firewall/mangle")).toEqual([]);
    await client.close();
    await sim.close();
    await boot("6.49.10");
    await expect(write("/ip/firewall/mangle/add", "=chain=prerouting", "=colour=red")).rejects.toThrow(
      /^unknown parameter$/,
    );
  });

  test("read-only properties are not accepted as input", async () => {
    await boot("7.16.2");
    await expect(write("/ip/firewall/mangle/add", "=chain=input", "=bytes=5")).rejects.toThrow(
      "unknown parameter bytes",
    );
  });

  test("a set on several items with one bad value changes none of them", async () => {
    await boot("7.16.2");
    const [{ ret: a }] = await write(
      "/ip/firewall/nat/add",
      "=chain=srcnat",
      "=action=masquerade",
      "=comment=a",
    );
    const [{ ret: b }] = await write(
      "/ip/firewall/nat/add",
      "=chain=srcnat",
      "=action=masquerade",
      "=comment=b",
    );
    await expect(
      write("/ip/firewall/nat/set", `=.id=${a},${b}`, "=comment=x", "=out-interface=wlan9"),
    ).rejects.toThrow("input does not match any value of out-interface");
    expect(sim.entries("/ip/firewall/nat").map((e) => e.comment)).toEqual(["a", "b"]);
  });

  test("a stray word that is not =name=value is refused", async () => {
    await boot("7.16.2");
    await expect(write("/ip/route/add", "gateway=10.111.0.1")).rejects.toThrow(
      "unknown parameter gateway=10.111.0.1",
    );
  });
});

describe("v6 versus v7 routing", () => {
  test("v6: routing-mark names the table (implicit); routing-table is unknown", async () => {
    await boot("6.49.10");
    await write("/ip/route/add", "=gateway=10.111.0.1", "=routing-mark=odd");
    await expect(write("/ip/route/add", "=gateway=10.111.0.1", "=routing-table=odd")).rejects.toThrow(
      "unknown parameter",
    );
    const [route] = await write("/ip/route/print", "?routing-mark=odd");
    expect(route).toMatchObject({ "dst-address": "0.0.0.0/0", gateway: "10.111.0.1", "routing-mark": "odd" });
    expect(route).toMatchObject({ active: "true", "gateway-status": "10.111.0.1 reachable via wlan2" });
  });

  test("v7: routing-table must exist in /routing/table; routing-mark is unknown", async () => {
    await boot("7.16.2");
    await expect(write("/ip/route/add", "=gateway=10.111.0.1", "=routing-mark=odd")).rejects.toThrow(
      "unknown parameter routing-mark",
    );
    await expect(write("/ip/route/add", "=gateway=10.111.0.1", "=routing-table=odd")).rejects.toThrow(
      "input does not match any value of routing-table",
    );
    await write("/routing/table/add", "=name=odd", "=fib=");
    await write("/ip/route/add", "=gateway=10.111.0.1", "=routing-table=odd");
    const [route] = await write("/ip/route/print", "?routing-table=odd");
    expect(route).toMatchObject({
      "routing-table": "odd",
      active: "true",
      "immediate-gw": "10.111.0.1%wlan2",
    });
  });

  test("v7 /routing/table: fib is a flag printed with an empty value; names are unique; 'main' is built in", async () => {
    await boot("7.16.2");
    await write("/routing/table/add", "=name=a", "=fib=yes");
    await write("/routing/table/add", "=name=b");
    const tables = await write("/routing/table/print", "=.proplist=name,fib,dynamic");
    expect(tables).toEqual([
      { name: "main", fib: "", dynamic: "true" },
      { name: "a", fib: "", dynamic: "false" },
      { name: "b", dynamic: "false" },
    ]);
    await expect(write("/routing/table/add", "=name=a", "=fib=")).rejects.toThrow(
      "failure: already have such entry",
    );
    await expect(write("/routing/table/add", "=name=main")).rejects.toThrow(
      "failure: already have such entry",
    );
    await expect(write("/routing/table/remove", "=.id=*1")).rejects.toThrow(
      "failure: can not change dynamic item",
    );
  });

  test("v6 has no /routing/table and no /routing/rule; v7 has no /ip/route/rule", async () => {
    await boot("6.49.10");
    await expect(write("/routing/table/add", "=name=x")).rejects.toThrow(
      "no such command or directory (table)",
    );
    await expect(write("/routing/rule/print")).rejects.toThrow("no such command or directory (rule)");
    expect(await write("/ip/route/rule/add", "=routing-mark=odd", "=table=odd")).toEqual([{ ret: "*1" }]);
    await client.close();
    await sim.close();
    await boot("7.16.2");
    await expect(write("/ip/route/rule/print")).rejects.toThrow("no such command or directory (rule)");
    await write("/routing/table/add", "=name=odd", "=fib=");
    expect(
      await write("/routing/rule/add", "=src-address=192.168.0.0/24", "=action=lookup", "=table=odd"),
    ).toEqual([{ ret: "*1" }]);
  });

  test("v7 mangle new-routing-mark must name an existing table; v6 takes any name", async () => {
    await boot("7.16.2");
    const rule = ["=chain=prerouting", "=action=mark-routing", "=new-routing-mark=odd", "=passthrough=no"];
    await expect(write("/ip/firewall/mangle/add", ...rule)).rejects.toThrow(
      "input does not match any value of new-routing-mark",
    );
    await write("/routing/table/add", "=name=odd", "=fib=");
    await write("/ip/firewall/mangle/add", ...rule);
    await client.close();
    await sim.close();
    await boot("6.49.10");
    await write("/ip/firewall/mangle/add", ...rule);
    expect(sim.entries("/ip/firewall/mangle")[0]["new-routing-mark"]).toBe("odd");
  });

  test("v6 ECMP: one route with gateway=a,b, repeats allowed for weight; v7 refuses a list", async () => {
    await boot("6.49.10");
    await write("/ip/route/add", "=gateway=10.111.0.1,10.112.0.1,10.112.0.1", "=check-gateway=ping");
    const [route] = await write("/ip/route/print", "?static=true");
    expect(route.gateway).toBe("10.111.0.1,10.112.0.1,10.112.0.1");
    await client.close();
    await sim.close();
    await boot("7.16.2");
    await expect(write("/ip/route/add", "=gateway=10.111.0.1,10.112.0.1")).rejects.toThrow(
      "invalid value for argument gateway",
    );
  });

  test("v7 ECMP is two routes with the same dst-address and distance: both active, both ecmp", async () => {
    await boot("7.16.2");
    await write("/ip/route/add", "=gateway=10.111.0.1");
    await write("/ip/route/add", "=gateway=10.112.0.1");
    await write("/ip/route/add", "=gateway=10.112.0.1", "=distance=2");
    const routes = await write("/ip/route/print", "?static=true", "=.proplist=gateway,distance,active,ecmp");
    expect(routes).toEqual([
      { gateway: "10.111.0.1", distance: "1", active: "true", ecmp: "true" },
      { gateway: "10.112.0.1", distance: "1", active: "true", ecmp: "true" },
      { gateway: "10.112.0.1", distance: "2", active: "false", ecmp: "false" },
    ]);
  });

  test("connected routes are dynamic entries made from /ip/address, and cannot be removed", async () => {
    await boot("7.16.2");
    const connected = await write(
      "/ip/route/print",
      "?dynamic=true",
      "=.proplist=.id,dst-address,gateway,distance",
    );
    expect(connected.map((r) => r["dst-address"])).toEqual([
      "192.168.0.0/24",
      "10.111.0.0/24",
      "10.112.0.0/24",
    ]);
    await expect(write("/ip/route/remove", `=.id=${connected[0][".id"]}`)).rejects.toThrow(
      "can not change dynamic",
    );
    const [addr] = await write("/ip/address/print", "?interface=Local");
    await write("/ip/address/remove", `=.id=${addr[".id"]}`);
    expect((await write("/ip/route/print", "?dynamic=true")).map((r) => r["dst-address"])).toEqual([
      "10.111.0.0/24",
      "10.112.0.0/24",
    ]);
  });

  test("a gateway no connected network covers is not reachable: the route is inactive", async () => {
    await boot("7.16.2");
    await write("/ip/route/add", "=gateway=172.16.0.1", "=dst-address=1.0.0.0/8");
    const [route] = await write("/ip/route/print", "?dst-address=1.0.0.0/8");
    expect(route).toMatchObject({ active: "false", inactive: "true" });
    expect(route).not.toHaveProperty("immediate-gw");
  });

  test("recursive route: default via a probe host routed through the ISP gateway (target-scope)", async () => {
    await boot("7.16.2");
    await write("/ip/route/add", "=dst-address=9.9.9.9/32", "=gateway=10.111.0.1", "=scope=10");
    await write("/ip/route/add", "=gateway=9.9.9.9", "=target-scope=11", "=check-gateway=ping");
    const [route] = await write("/ip/route/print", "?gateway=9.9.9.9");
    expect(route).toMatchObject({
      active: "true",
      "immediate-gw": "10.111.0.1%wlan2",
      "check-gateway": "ping",
    });
  });

  test("check-gateway: arp/ping in v6, arp/none/ping in v7 (no bfd in any crawl); distance 1..255", async () => {
    await boot("6.49.10");
    await expect(write("/ip/route/add", "=gateway=10.111.0.1", "=check-gateway=bfd")).rejects.toThrow(
      "input does not match any value of check-gateway",
    );
    await expect(write("/ip/route/add", "=gateway=10.111.0.1", "=distance=256")).rejects.toThrow(
      "value of distance out of range (1..255)",
    );
    await client.close();
    await sim.close();
    await boot("7.16.2");
    await write("/ip/route/add", "=gateway=10.111.0.1", "=check-gateway=none");
    await expect(write("/ip/route/add", "=gateway=10.111.0.1", "=check-gateway=bfd")).rejects.toThrow(
      "input does not match any value of check-gateway",
    );
  });

  test("v7-only route properties: vrf-interface; the %interface gateway form", async () => {
    await boot("6.49.10");
    await expect(write("/ip/route/add", "=gateway=10.111.0.1", "=vrf-interface=wlan2")).rejects.toThrow(
      "unknown parameter",
    );
    await client.close();
    await sim.close();
    await boot("7.16.2");
    await write("/ip/route/add", "=gateway=10.111.0.1%wlan2", "=dst-address=8.8.8.0/24");
    expect((await write("/ip/route/print", "?dst-address=8.8.8.0/24"))[0]["immediate-gw"]).toBe(
      "10.111.0.1%wlan2",
    );
  });
});

describe("firewall values", () => {
  beforeEach(() => boot("7.16.2"));
  const mangle = (...words: string[]) => write("/ip/firewall/mangle/add", "=chain=prerouting", ...words);
  /** Adds a mangle rule and prints it back. */
  const printed = async (...words: string[]) => {
    const [{ ret }] = await mangle(...words);
    return (await write("/ip/firewall/mangle/print", `?.id=${ret}`))[0];
  };

  test("nth: every,packet with 1 <= packet <= every; the pre-3.0 three-number form is refused", async () => {
    await mangle("=nth=2,1");
    await mangle("=nth=2,2");
    await expect(mangle("=nth=1,1,0")).rejects.toThrow("invalid value for argument nth");
    await expect(mangle("=nth=2,3")).rejects.toThrow("invalid value for argument nth");
    await expect(mangle("=nth=2,0")).rejects.toThrow("invalid value for argument nth");
  });

  test("per-connection-classifier: hash:denominator/remainder with a known hash", async () => {
    await mangle("=per-connection-classifier=both-addresses-and-ports:3/2");
    await mangle("=per-connection-classifier=src-address:2/0");
    await expect(mangle("=per-connection-classifier=both-addresses:2/2")).rejects.toThrow(
      "invalid value for argument per-connection-classifier",
    );
    await expect(mangle("=per-connection-classifier=everything:2/0")).rejects.toThrow(
      "input does not match any value of per-connection-classifier",
    );
  });

  test("negated matchers: !local address type, !list, !address, no-mark", async () => {
    const item = await printed(
      "=dst-address-type=!local",
      "=src-address-list=!odd",
      "=dst-address=!192.168.0.0/24",
      "=connection-mark=no-mark",
      "=connection-state=new",
      "=in-interface=!wlan1",
    );
    expect(item).toMatchObject({
      "dst-address-type": "!local",
      "src-address-list": "!odd",
      "dst-address": "!192.168.0.0/24",
      "connection-mark": "no-mark",
      "connection-state": "new",
      "in-interface": "!wlan1",
    });
    await expect(mangle("=dst-address-type=!nowhere")).rejects.toThrow(
      "input does not match any value of dst-address-type",
    );
    await expect(mangle("=connection-state=established,sleepy")).rejects.toThrow(
      "input does not match any value of connection-state",
    );
  });

  test("addresses are normalised as the router prints them", async () => {
    const item = await printed("=src-address=192.168.0.77/24", "=dst-address=10.0.0.1/32");
    expect(item).toMatchObject({ "src-address": "192.168.0.0/24", "dst-address": "10.0.0.1" });
    await expect(mangle("=src-address=300.1.1.1")).rejects.toThrow("invalid value for argument src-address");
  });

  test("interfaces referenced must exist; interface lists must exist (or be built in)", async () => {
    await expect(mangle("=in-interface=ether9")).rejects.toThrow(
      "input does not match any value of in-interface",
    );
    await expect(mangle("=in-interface-list=LAN")).rejects.toThrow(
      "input does not match any value of in-interface-list",
    );
    await write("/interface/list/add", "=name=LAN");
    await mangle("=in-interface-list=LAN");
    await mangle("=in-interface-list=all");
  });

  test("actions need their arguments; passthrough prints for mark actions", async () => {
    await expect(mangle("=action=mark-connection")).rejects.toThrow("new-connection-mark");
    await expect(mangle("=action=jump")).rejects.toThrow("jump-target");
    await expect(mangle("=action=add-src-to-address-list")).rejects.toThrow("address-list");
    await expect(mangle("=action=teleport")).rejects.toThrow("input does not match any value of action");
    const item = await printed("=action=mark-connection", "=new-connection-mark=odd");
    expect(item.passthrough).toBe("true");
    await expect(mangle("=passthrough=maybe")).rejects.toThrow(
      "input does not match any value of passthrough",
    );
  });

  test("add-src-to-address-list with address-list-timeout: durations print compactly in v7", async () => {
    const item = await printed(
      "=action=add-src-to-address-list",
      "=address-list=odd",
      "=address-list-timeout=1d",
      "=passthrough=yes",
    );
    expect(item["address-list-timeout"]).toBe("1d");
    expect(
      (await printed("=action=add-dst-to-address-list", "=address-list=x"))["address-list-timeout"],
    ).toBe("none-dynamic");
  });

  test("nat: masquerade and src-nat with to-addresses / to-ports", async () => {
    await write("/ip/firewall/nat/add", "=chain=srcnat", "=out-interface=wlan1", "=action=masquerade");
    await write(
      "/ip/firewall/nat/add",
      "=chain=srcnat",
      "=connection-mark=odd",
      "=action=src-nat",
      "=to-addresses=10.111.0.2",
      "=protocol=tcp",
      "=to-ports=1024-65535",
    );
    await expect(write("/ip/firewall/nat/add", "=chain=dstnat", "=action=netmap")).rejects.toThrow(
      "to-addresses",
    );
    await expect(
      write("/ip/firewall/nat/add", "=chain=srcnat", "=action=src-nat", "=to-ports=70000"),
    ).rejects.toThrow("invalid value for argument to-ports");
    expect(sim.entries("/ip/firewall/nat").map((e) => e.action)).toEqual(["masquerade", "src-nat"]);
  });

  test("filter: reject-with and fasttrack", async () => {
    await write(
      "/ip/firewall/filter/add",
      "=chain=forward",
      "=action=fasttrack-connection",
      "=hw-offload=yes",
    );
    await write(
      "/ip/firewall/filter/add",
      "=chain=input",
      "=action=reject",
      "=reject-with=icmp-port-unreachable",
    );
    await expect(
      write("/ip/firewall/filter/add", "=chain=input", "=action=reject", "=reject-with=nope"),
    ).rejects.toThrow("input does not match any value of reject-with");
  });
});

describe("address lists", () => {
  test("same list + address twice: 'failure: already have such entry'", async () => {
    await boot("7.16.2");
    await write("/ip/firewall/address-list/add", "=list=odd", "=address=192.168.0.10");
    await expect(
      write("/ip/firewall/address-list/add", "=list=odd", "=address=192.168.0.10/32"),
    ).rejects.toThrow("failure: already have such entry");
    await write("/ip/firewall/address-list/add", "=list=even", "=address=192.168.0.10");
  });

  test.each([
    ["7.16.2", "1d", "23h59m30s"],
    ["6.49.10", "1d 00:00:00", "23:59:30"],
  ])(
    "on %s a timeout makes the entry dynamic and counts down (%s, then %s); it disappears at 0",
    async (version, atStart, later) => {
      let now = Date.UTC(2025, 0, 1);
      await boot(version, { clock: () => now });
      await write("/ip/firewall/address-list/add", "=list=odd", "=address=192.168.0.10", "=timeout=1d");
      await write("/ip/firewall/address-list/add", "=list=odd", "=address=192.168.0.11");
      const [dyn, stat] = await write("/ip/firewall/address-list/print");
      expect(dyn).toMatchObject({ dynamic: "true", timeout: atStart });
      expect(stat.dynamic).toBe("false");
      expect(stat).not.toHaveProperty("timeout");
      now += 30_000;
      expect((await write("/ip/firewall/address-list/print", "?dynamic=true"))[0].timeout).toBe(later);
      now += 86_400_000;
      expect((await write("/ip/firewall/address-list/print")).map((e) => e.address)).toEqual([
        "192.168.0.11",
      ]);
    },
  );

  test("durations: 00:10:00, 1d2h, 90 (seconds) are accepted; nonsense is not", async () => {
    await boot("7.16.2");
    const add = (t: string) =>
      write("/ip/firewall/address-list/add", "=list=t", `=address=10.0.0.${t.length}`, `=timeout=${t}`);
    await add("00:10:00");
    await add("1d2h");
    await add("90");
    expect((await write("/ip/firewall/address-list/print")).map((e) => e.timeout)).toEqual([
      "10m",
      "1d2h",
      "1m30s",
    ]);
    await expect(add("soon")).rejects.toThrow("invalid value for argument timeout");
  });
});

describe("other menus", () => {
  test("/ip/address: interface must exist; required properties; network derived", async () => {
    await boot("7.16.2");
    await expect(write("/ip/address/add", "=address=10.0.0.1/24", "=interface=eth9")).rejects.toThrow(
      "input does not match any value of interface",
    );
    await expect(write("/ip/address/add", "=interface=Local")).rejects.toThrow("address");
    const [item] = await write("/ip/address/print", "?interface=wlan1");
    expect(item).toMatchObject({
      address: "10.112.0.2/24",
      network: "10.112.0.0",
      "actual-interface": "wlan1",
    });
    await expect(write("/ip/address/add", "=address=10.112.0.2/24", "=interface=wlan1")).rejects.toThrow(
      "already have such address",
    );
  });

  test("/tool/netwatch: defaults, status/since, v7.4+ type", async () => {
    await boot("7.16.2");
    await write("/tool/netwatch/add", "=host=9.9.9.9", "=type=icmp", "=down-script=:log info down");
    const [nw] = await write("/tool/netwatch/print");
    expect(nw).toMatchObject({ host: "9.9.9.9", type: "icmp", interval: "10s", timeout: "3s", status: "up" });
    expect(nw.since).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    sim.edit.netwatchStatus(nw[".id"], "down");
    expect((await write("/tool/netwatch/print"))[0].status).toBe("down");
    await client.close();
    await sim.close();
    await boot("6.49.10");
    await expect(write("/tool/netwatch/add", "=host=9.9.9.9", "=type=icmp")).rejects.toThrow(
      "unknown parameter",
    );
    await write("/tool/netwatch/add", "=host=9.9.9.9", "=interval=30s");
    expect(await write("/tool/netwatch/print", "=.proplist=interval,timeout")).toEqual([
      { interval: "00:00:30", timeout: "00:00:01" },
    ]);
  });

  test("seeds are validated like adds", async () => {
    await expect(
      startRouterOsSim({
        version: "7.16.2",
        seed: { "/ip/route": [{ gateway: "1.1.1.1", "routing-mark": "x" }] },
      }),
    ).rejects.toThrow("unknown parameter routing-mark");
  });
});

describe("!empty (RouterOS 7.18+)", () => {
  test.each([
    ["7.18", true],
    ["7.16.2", false],
    ["6.49.10", false],
  ])("on %s a print that matches nothing sends !empty: %s", async (version, expectEmpty) => {
    sim = await startRouterOsSim({ version });
    const raw = await RawRosClient.connect(sim);
    await raw.login("admin", "");
    const r = await raw.command(["/ip/firewall/mangle/print"], { tag: "e" });
    expect(r.replies.map((s) => s.type)).toEqual(expectEmpty ? ["!empty", "!done"] : ["!done"]);
    expect(r.replies.every((s) => s.tag === "e")).toBe(true);
    const counted = await raw.command(["/ip/firewall/mangle/print", "=count-only="]);
    expect(counted.replies.map((s) => s.type)).toEqual(["!done"]);
    const nonEmpty = await raw.command(["/system/identity/print"]);
    expect(nonEmpty.replies.map((s) => s.type)).toEqual(["!re", "!done"]);
    await raw.close();
  });
});
