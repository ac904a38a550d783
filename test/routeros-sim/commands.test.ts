import { RawRosClient, RouterOsSim, startRouterOsSim } from "../../labs/routeros-sim";
import { NodeRouterosClient, connectNodeRouteros } from "../../labs/routeros-sim/node-routeros-client";

let sim: RouterOsSim;
let client: NodeRouterosClient;
const write = (cmd: string, ...words: string[]) => client.api.write(cmd, words);
const mangle = "/ip/firewall/mangle";
const chainOrder = () => sim.entries(mangle).map((e) => e.comment);

beforeEach(async () => {
  sim = await startRouterOsSim({
    version: "7.16.2",
    interfaces: [{ name: "Local" }, { name: "wlan1" }, { name: "wlan2" }],
  });
  client = await connectNodeRouteros(sim);
});
afterEach(async () => {
  await client.close();
  await sim.close();
});

async function addRule(comment: string, ...extra: string[]): Promise<string> {
  const [{ ret }] = await write(
    `${mangle}/add`,
    "=chain=prerouting",
    "=action=accept",
    `=comment=${comment}`,
    ...extra,
  );
  return ret;
}

describe("add / print / set / remove", () => {
  test("add returns the new .id in !done =ret=; ids are * + uppercase hex, increasing, never reused", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await addRule(`r${i}`));
    expect(ids.slice(0, 3)).toEqual(["*1", "*2", "*3"]);
    expect(ids[9]).toBe("*A");
    await write(`${mangle}/remove`, `=.id=${ids[11]}`);
    expect(await addRule("again")).toBe("*D");
  });

  test("print returns one object per item, booleans as true/false, defaults included", async () => {
    await write(
      `${mangle}/add`,
      "=chain=prerouting",
      "=action=mark-routing",
      "=new-routing-mark=main",
      "=passthrough=no",
      "=in-interface=Local",
      "=comment=lb",
    );
    expect(await write(`${mangle}/print`)).toEqual([
      {
        ".id": "*1",
        chain: "prerouting",
        "in-interface": "Local",
        log: "false",
        "log-prefix": "",
        comment: "lb",
        disabled: "false",
        bytes: "0",
        packets: "0",
        invalid: "false",
        dynamic: "false",
        action: "mark-routing",
        "new-routing-mark": "main",
        passthrough: "false",
      },
    ]);
  });

  test("set changes only the given properties of one or several items (.id comma list)", async () => {
    const a = await addRule("a");
    const b = await addRule("b");
    await write(`${mangle}/set`, `=.id=${a},${b}`, "=disabled=yes", "=log=true");
    await write(`${mangle}/set`, `=.id=${b}`, "=comment=B");
    expect(sim.entries(mangle).map((e) => [e.comment, e.disabled, e.log])).toEqual([
      ["a", "true", "true"],
      ["B", "true", "true"],
    ]);
  });

  test("set/remove of a missing item: 'no such item'; a malformed id: 'invalid internal item number'", async () => {
    await expect(write(`${mangle}/set`, "=.id=*99", "=comment=x")).rejects.toThrow("no such item");
    await expect(write(`${mangle}/remove`, "=.id=*99")).rejects.toThrow("no such item");
    await expect(write(`${mangle}/remove`, "=.id=3")).rejects.toThrow("invalid internal item number");
  });

  test("remove takes a comma list and is all-or-nothing", async () => {
    const a = await addRule("a");
    const b = await addRule("b");
    await expect(write(`${mangle}/remove`, `=.id=${a},*77`)).rejects.toThrow("no such item");
    expect(chainOrder()).toEqual(["a", "b"]);
    await write(`${mangle}/remove`, `=numbers=${a},${b}`);
    expect(sim.entries(mangle)).toEqual([]);
  });

  test("enable / disable / unset", async () => {
    const a = await addRule("a", "=src-address=10.0.0.0/8");
    await write(`${mangle}/disable`, `=.id=${a}`);
    expect(sim.entries(mangle)[0].disabled).toBe("true");
    await write(`${mangle}/enable`, `=.id=${a}`);
    expect(sim.entries(mangle)[0].disabled).toBe("false");
    await write(`${mangle}/unset`, `=.id=${a}`, "=value-name=src-address");
    expect(sim.entries(mangle)[0]).not.toHaveProperty("src-address");
    await expect(write(`${mangle}/unset`, `=.id=${a}`, "=value-name=chain")).rejects.toThrow(
      "input does not match any value of value-name",
    );
  });

  test("unset takes only what RouterOS offers: mangle's matchers, not disabled nor an action's arguments", async () => {
    const a = await addRule("a", "=src-address=10.0.0.0/8");
    await write(`${mangle}/disable`, `=.id=${a}`);
    for (const prop of ["disabled", "jump-target", "passthrough", "log"])
      await expect(write(`${mangle}/unset`, `=.id=${a}`, `=value-name=${prop}`)).rejects.toThrow(
        "input does not match any value of value-name",
      );
    expect(sim.entries(mangle)[0].disabled).toBe("true");
  });

  test("no unset in address lists, interface lists and their members; no enable/disable of an interface list", async () => {
    const [{ ret: entry }] = await write(
      "/ip/firewall/address-list/add",
      "=list=l",
      "=address=10.0.0.1",
      "=disabled=yes",
    );
    await expect(
      write("/ip/firewall/address-list/unset", `=numbers=${entry}`, "=value-name=disabled"),
    ).rejects.toThrow("no such command");
    await write("/ip/firewall/address-list/enable", `=numbers=${entry}`);
    expect(sim.entries("/ip/firewall/address-list")[0].disabled).toBe("false");
    const [{ ret: list }] = await write("/interface/list/add", "=name=lan");
    await expect(write("/interface/list/disable", `=numbers=${list}`)).rejects.toThrow("no such command");
    await expect(write("/interface/list/set", `=numbers=${list}`, "=disabled=yes")).rejects.toThrow(
      "unknown parameter",
    );
    const [{ ret: member }] = await write("/interface/list/member/add", "=list=lan", "=interface=Local");
    await expect(
      write("/interface/list/member/unset", `=numbers=${member}`, "=value-name=disabled"),
    ).rejects.toThrow("no such command");
  });

  test("v7 values and properties RouterOS 7 does not offer are refused", async () => {
    await expect(addRule("t", "=dst-address-type=unreachable")).rejects.toThrow(
      "input does not match any value of dst-address-type",
    );
    await expect(addRule("t", "=src-address-type=!prohibit")).rejects.toThrow(
      "input does not match any value of src-address-type",
    );
    await expect(
      write("/ip/firewall/nat/add", "=chain=srcnat", "=action=masquerade", "=connection-state=new"),
    ).rejects.toThrow("unknown parameter connection-state");
  });

  test("/system/identity set and print; /system/resource print", async () => {
    await write("/system/identity/set", "=name=gw1");
    expect(await write("/system/identity/print")).toEqual([{ name: "gw1" }]);
    const [res] = await write("/system/resource/print");
    expect(res.version).toBe("7.16.2 (stable)");
    expect(res["board-name"]).toBe("CHR");
    expect(res.uptime).toMatch(/^(\d+[wdhms]|\d+ms)+$/);
    expect(res).not.toHaveProperty(".id");
  });

  test("/interface print lists the configured interfaces", async () => {
    const items = await write("/interface/print", "=.proplist=name,type,running");
    expect(items).toEqual([
      { name: "Local", type: "ether", running: "true" },
      { name: "wlan1", type: "ether", running: "true" },
      { name: "wlan2", type: "ether", running: "true" },
    ]);
  });
});

describe("order: place-before and move", () => {
  test("add place-before=*ID inserts above that item", async () => {
    const a = await addRule("a");
    await addRule("c");
    await addRule("b", `=place-before=${(await write(`${mangle}/print`, "?comment=c"))[0][".id"]}`);
    await addRule("top", `=place-before=${a}`);
    expect(chainOrder()).toEqual(["top", "a", "b", "c"]);
    await expect(addRule("x", "=place-before=*FF")).rejects.toThrow("no such item");
  });

  test("move numbers=*A,*B destination=*C puts A then B above C; without destination, at the end", async () => {
    const [a, b, c, d] = [await addRule("a"), await addRule("b"), await addRule("c"), await addRule("d")];
    await write(`${mangle}/move`, `=numbers=${d},${c}`, `=destination=${a}`);
    expect(chainOrder()).toEqual(["d", "c", "a", "b"]);
    await write(`${mangle}/move`, `=numbers=${d}`);
    expect(chainOrder()).toEqual(["c", "a", "b", "d"]);
    await write(`${mangle}/move`, `=numbers=${a},${b}`, `=destination=${b}`);
    expect(chainOrder()).toEqual(["c", "a", "b", "d"]);
  });

  test("place-before and move exist only on ordered menus", async () => {
    await expect(write("/ip/firewall/address-list/move", "=numbers=*1")).rejects.toThrow("no such command");
    await expect(
      write("/ip/firewall/address-list/add", "=list=l", "=address=1.1.1.1", "=place-before=*1"),
    ).rejects.toThrow("unknown parameter place-before");
  });
});

describe("print arguments and queries", () => {
  beforeEach(async () => {
    await addRule("one", "=in-interface=Local", "=connection-mark=no-mark");
    await addRule("two", "=in-interface=wlan1", "=disabled=yes");
    await addRule("three", "=in-interface=wlan2", "=log=yes");
  });

  test(".proplist limits the properties (unknown names are skipped)", async () => {
    expect(await write(`${mangle}/print`, "=.proplist=.id,comment,nonexistent")).toEqual([
      { ".id": "*1", comment: "one" },
      { ".id": "*2", comment: "two" },
      { ".id": "*3", comment: "three" },
    ]);
  });

  test("?name=value, ?name, ?-name, ?<, ?>", async () => {
    const comments = async (...q: string[]) =>
      (await write(`${mangle}/print`, "=.proplist=comment", ...q)).map((i) => i.comment);
    expect(await comments("?in-interface=wlan1")).toEqual(["two"]);
    expect(await comments("?disabled=yes")).toEqual(["two"]); // yes/no normalised like input
    expect(await comments("?connection-mark")).toEqual(["one"]);
    expect(await comments("?-connection-mark")).toEqual(["two", "three"]);
    expect(await comments("?>.id=*1", "?<.id=*3")).toEqual(["two"]); // ids compare by number
    expect(await comments("?>comment=p")).toEqual(["two", "three"]);
    expect(await comments("?<comment=p")).toEqual(["one"]);
  });

  test("?#| ?#& ?#! combine the stack; several plain queries are ANDed", async () => {
    const comments = async (...q: string[]) =>
      (await write(`${mangle}/print`, "=.proplist=comment", ...q)).map((i) => i.comment);
    expect(await comments("?in-interface=Local", "?in-interface=wlan2", "?#|")).toEqual(["one", "three"]);
    expect(await comments("?in-interface=Local", "?in-interface=wlan2", "?#|!")).toEqual(["two"]);
    expect(await comments("?log=true", "?in-interface=wlan2", "?#&")).toEqual(["three"]);
    expect(await comments("?log=true", "?in-interface=Local")).toEqual([]);
  });

  test("a query on a property the menu does not have matches nothing, silently", async () => {
    expect(await write(`${mangle}/print`, "?no-such-property=1")).toEqual([]);
    expect(await write("/ip/route/print", "?routing-mark=x")).toEqual([]);
  });

  test("count-only returns the count in !done =ret=", async () => {
    expect(await write(`${mangle}/print`, "=count-only=", "?in-interface=Local")).toEqual([{ ret: "1" }]);
  });

  test("an unknown print argument is refused", async () => {
    await expect(write(`${mangle}/print`, "=bogus=1")).rejects.toThrow("unknown parameter bogus");
  });
});

describe("tags and concurrency", () => {
  test("many tagged commands in flight on one node-routeros connection are each answered", async () => {
    sim.faults.latencyMs((cmd) => (cmd.endsWith("/add") ? 30 : 5));
    const adds = Array.from({ length: 25 }, (_, i) =>
      write("/ip/firewall/address-list/add", "=list=many", `=address=10.1.0.${i}`),
    );
    const prints = Array.from({ length: 10 }, () => write("/system/identity/print"));
    const [addResults, printResults] = await Promise.all([Promise.all(adds), Promise.all(prints)]);
    expect(new Set(addResults.map(([r]) => r.ret)).size).toBe(25);
    expect(printResults.every((r) => r[0].name === "MikroTik")).toBe(true);
    const tags = new Set(sim.log.filter((l) => l.command.endsWith("/add")).map((l) => l.tag));
    expect(tags.size).toBe(25);
  });

  test("replies interleave by latency, each tag's replies stay in order, tags are echoed on every reply", async () => {
    const raw = await RawRosClient.connect(sim);
    await raw.login("admin", "");
    await addRule("x");
    await addRule("y");
    sim.faults.latencyMs((cmd) => (cmd === `${mangle}/print` ? 80 : 10));
    const slow = raw.command([`${mangle}/print`], { tag: "slow" });
    const fast = raw.command(["/ip/firewall/address-list/add", "=list=q", "=address=1.1.1.1"], {
      tag: "fast",
    });
    const bad = raw.command(["/ip/firewall/address-list/add", "=list=q"], { tag: "bad" });
    await Promise.all([slow, fast, bad]);
    const order = raw.received.filter((r) => r.tag !== undefined).map((r) => `${r.tag}:${r.type}`);
    expect(order).toEqual(["fast:!done", "bad:!trap", "bad:!done", "slow:!re", "slow:!re", "slow:!done"]);
    await raw.close();
  });

  test("/cancel =tag=N interrupts a command still running: trap category 2, then /cancel's !done, then N's", async () => {
    const raw = await RawRosClient.connect(sim);
    await raw.login("admin", "");
    sim.faults.latencyMs((cmd) => (cmd.endsWith("/add") ? 500 : 0));
    const slow = raw.command(["/ip/firewall/address-list/add", "=list=c", "=address=2.2.2.2"], { tag: "7" });
    const cancel = await raw.command(["/cancel", "=tag=7"], { tag: "8" });
    const cancelled = await slow;
    expect(cancelled.traps).toEqual([{ message: "interrupted", category: 2 }]);
    expect(cancel.done).toEqual({});
    expect(raw.received.slice(-3).map((r) => `${r.tag}:${r.type}`)).toEqual([
      "7:!trap",
      "8:!done",
      "7:!done",
    ]);
    expect(sim.entries("/ip/firewall/address-list")).toEqual([]); // never applied
    await raw.close();
  });

  test("node-routeros drops !re sentences without attributes (an empty .proplist result)", async () => {
    await addRule("a");
    const raw = await RawRosClient.connect(sim);
    await raw.login("admin", "");
    const wire = await raw.command([`${mangle}/print`, "=.proplist=nonexistent"]);
    expect(wire.replies.map((r) => r.type)).toEqual(["!re", "!done"]);
    expect(await write(`${mangle}/print`, "=.proplist=nonexistent")).toEqual([]);
    await raw.close();
  });
});

describe("unknown commands and menus", () => {
  test("an unknown command in a menu: 'no such command'", async () => {
    await expect(write(`${mangle}/frobnicate`)).rejects.toThrow(/^no such command$/);
    await expect(write(`${mangle}/print/terse`)).rejects.toThrow(/^no such command$/);
  });

  test("a missing directory: two traps, 'no such command or directory (x)' then 'no such command prefix'", async () => {
    const raw = await RawRosClient.connect(sim);
    await raw.login("admin", "");
    const r = await raw.command(["/ip/bogus/print"]);
    expect(r.traps).toEqual([
      { message: "no such command or directory (bogus)", category: 0 },
      { message: "no such command prefix", category: 0 },
    ]);
    expect(r.done).toEqual({});
    await raw.close();
    await expect(write("/ip/bogus/print")).rejects.toThrow("no such command or directory (bogus)");
  });
});

describe("out-of-band edits (drift)", () => {
  test("edit.add/set/remove change what clients see, without log entries or counters", async () => {
    const id = sim.edit.add(mangle, { chain: "forward", action: "accept", comment: "foreign" });
    sim.edit.set(mangle, id, { comment: "changed by hand" });
    expect(await write(`${mangle}/print`, "=.proplist=comment")).toEqual([{ comment: "changed by hand" }]);
    sim.edit.remove(mangle, id);
    expect(await write(`${mangle}/print`)).toEqual([]);
    expect(() => sim.edit.add(mangle, { chain: "forward", action: "nope" })).toThrow(
      "input does not match any value of action",
    );
    expect(sim.log.filter((l) => l.command.endsWith("/add"))).toEqual([]);
  });
});

describe("ids compare as numbers in queries", () => {
  test("?<.id=*10 includes *9 and *A", async () => {
    for (let i = 0; i < 17; i++) await addRule(`r${i}`);
    const ids = (await write(`${mangle}/print`, "?<.id=*10", "=.proplist=.id")).map((i) => i[".id"]);
    expect(ids).toHaveLength(15);
    expect(ids).toContain("*9");
    expect(ids).toContain("*A");
  });
});
