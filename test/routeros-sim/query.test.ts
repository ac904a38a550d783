/**
 * Where the simulator once differed from MikroTik's API manual (https://help.mikrotik.com/docs/display/ROS/API),
 * found with independent clients: `?#` stack operations (index from the top, with and without `.`, padding
 * with true), `!trap` categories and an empty `.tag=`. Raw wire-level client, no node-routeros in between.
 */
import { RawRosClient, RouterOsSim, startRouterOsSim } from "../../labs/routeros-sim";

let sim: RouterOsSim;
let raw: RawRosClient;

beforeEach(async () => {
  sim = await startRouterOsSim({ version: "7.16.2", interfaces: [{ name: "Local" }, { name: "wlan1" }] });
  raw = await RawRosClient.connect({ host: sim.host, port: sim.port });
  await raw.login("admin", "");
  // a: in-interface=Local, b: log=true. Each comment names which of the two hold.
  for (const [comment, a, b] of [
    ["ab", true, true],
    ["a", true, false],
    ["b", false, true],
    ["none", false, false],
  ] as const)
    sim.edit.add("/ip/firewall/mangle", {
      chain: "forward",
      comment,
      "in-interface": a ? "Local" : "wlan1",
      log: b ? "yes" : "no",
    });
});
afterEach(async () => {
  await raw.close();
  await sim.close();
});

/** Comments of the mangle rules a print with these query words returns. */
async function matching(...queries: string[]): Promise<string[]> {
  const r = await raw.command([
    "/ip/firewall/mangle/print",
    "=.proplist=comment",
    ...queries.map((q) => `?${q}`),
  ]);
  expect(r.traps).toEqual([]);
  return r.re.map((e) => e.comment);
}
const A = "in-interface=Local";
const B = "log=true";

describe("?# stack operations (index 0 is the top of the stack)", () => {
  test("an index without `.` leaves only that value: ?a ?b ?#0 is b, ?a ?b ?#1 is a", async () => {
    expect(await matching(A, B, "#0")).toEqual(["ab", "b"]);
    expect(await matching(A, B, "#1")).toEqual(["ab", "a"]);
  });

  test("an index with `.` pushes a copy: ?a ?b ?#0.!|& is a and (b or not b), i.e. a", async () => {
    expect(await matching(A, B, "#0.!|&")).toEqual(["ab", "a"]);
    // `.` alone copies the top: ?b ?#.! is b and not b
    expect(await matching(B, "#.!")).toEqual([]);
  });

  test("&, | and ! as before", async () => {
    expect(await matching(A, B, "#|")).toEqual(["ab", "a", "b"]);
    expect(await matching(A, B, "#&")).toEqual(["ab"]);
    expect(await matching(A, B, "#|!")).toEqual(["none"]);
  });

  test("a short stack is padded with true", async () => {
    // ! of an empty stack negates a padded true: nothing matches
    expect(await matching("#!")).toEqual([]);
    // & with one value ands it with true
    expect(await matching(A, "#&")).toEqual(["ab", "a"]);
    // | with one value ors it with true: everything
    expect(await matching(A, "#|")).toEqual(["ab", "a", "b", "none"]);
    // an index beyond the stack reaches a padded true
    expect(await matching(A, B, "#5")).toEqual(["ab", "a", "b", "none"]);
  });
});

describe("!trap categories", () => {
  test.each([
    {
      what: "no such command",
      words: ["/ip/firewall/mangle/frobnicate"],
      message: "no such command",
      category: 0,
    },
    {
      what: "no such item",
      words: ["/ip/firewall/mangle/remove", "=.id=*99"],
      message: "no such item",
      category: 0,
    },
    {
      what: "a missing directory",
      words: ["/ip/nowhere/print"],
      message: "no such command or directory (nowhere)",
      category: 0,
    },
    {
      what: "input does not match any value",
      words: ["/ip/route/add", "=gateway=10.0.0.1", "=check-gateway=bfd"],
      message: "input does not match any value of check-gateway",
      category: 1,
    },
    {
      what: "an unknown parameter",
      words: ["/ip/firewall/nat/add", "=chain=srcnat", "=connection-state=new"],
      message: "unknown parameter connection-state",
      category: 1,
    },
    {
      what: "a missing argument",
      words: ["/ip/firewall/address-list/add", "=list=x"],
      message: "missing value",
      category: 1,
    },
    {
      what: "an already existing entry",
      words: ["/routing/table/add", "=name=main", "=fib="],
      message: "failure: already have such entry",
      category: 4,
    },
  ])("$what: category $category", async ({ words, message, category }) => {
    const r = await raw.command(words);
    expect(r.traps[0].message.startsWith(message)).toBe(true);
    expect(r.traps.map((t) => t.category)).toEqual(r.traps.map(() => category));
  });

  test("the provider's session keeps the category and still reports the message", async () => {
    const { RosSession } = await import("../../provider/routeros/session");
    const session = await RosSession.open({
      host: sim.host,
      port: sim.port,
      username: "admin",
      password: "",
      timeoutMs: 5000,
    });
    try {
      const err = await session
        .command(["/ip/route/add", "=gateway=10.0.0.1", "=check-gateway=bfd"])
        .catch((e) => e);
      expect(err).toMatchObject({ category: 1, trap: "input does not match any value of check-gateway" });
      expect((err as Error).message).toContain(
        "input does not match any value of check-gateway (category 1)",
      );
    } finally {
      await session.close();
    }
  });
});

describe(".tag", () => {
  test("an empty .tag= gives replies without a tag", async () => {
    raw.send(["/ip/firewall/mangle/print", "=.proplist=comment", "?comment=ab", ".tag="]);
    const re = await raw.readSentence();
    const done = await raw.readSentence();
    expect([re.type, done.type]).toEqual(["!re", "!done"]);
    for (const s of [re, done]) {
      expect(s.tag).toBeUndefined();
      expect(s.words.some((w) => w.startsWith(".tag"))).toBe(false);
    }
    // a non-empty tag is still echoed
    raw.send(["/system/identity/print", ".tag=7"]);
    expect((await raw.readSentence()).tag).toBe("7");
  });
});
