import {
  ProtocolError,
  RawRosClient,
  RouterOsSim,
  SentenceDecoder,
  decodeLength,
  encodeLength,
  encodeLengthAs,
  encodeSentence,
  encodeWord,
  startRouterOsSim,
} from "../../labs/routeros-sim";
import { connectNodeRouteros } from "../../labs/routeros-sim/node-routeros-client";

describe("length prefix", () => {
  // Boundaries of each form: the largest value of one form and the smallest of the next.
  const cases: Array<[number, string]> = [
    [0, "00"],
    [0x7f, "7f"],
    [0x80, "8080"],
    [0x3fff, "bfff"],
    [0x4000, "c04000"],
    [0x1fffff, "dfffff"],
    [0x200000, "e0200000"],
    [0xfffffff, "efffffff"],
    [0x10000000, "f010000000"],
    [0xffffffff, "f0ffffffff"],
  ];
  test.each(cases)("%i encodes as %s and decodes back", (len, hex) => {
    const prefix = encodeLength(len);
    expect(prefix.toString("hex")).toBe(hex);
    expect(decodeLength(prefix)).toEqual({ length: len, size: prefix.length });
  });

  test("node-routeros encodes exactly the same prefixes", () => {
    // The client's own encoder (Transmitter.encodeString) for word lengths covering forms 1-4.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Transmitter } = require("node-routeros/dist/connector/Transmitter") as {
      Transmitter: new (s: unknown) => { encodeString(s: string): Buffer };
    };
    const t = new Transmitter({});
    for (const len of [0, 0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000]) {
      const theirs = t.encodeString("a".repeat(len));
      expect(theirs.subarray(0, 5).toString("hex")).toBe(
        encodeWord("a".repeat(len)).subarray(0, 5).toString("hex"),
      );
      expect(theirs.equals(encodeWord("a".repeat(len)))).toBe(true);
    }
  });

  test("every form decodes any length it can hold (non-minimal prefixes are valid)", () => {
    for (const size of [1, 2, 3, 4, 5] as const) {
      const prefix = encodeLengthAs(5, size);
      expect(prefix.length).toBe(size);
      expect(decodeLength(prefix)).toEqual({ length: 5, size });
    }
    expect(() => encodeLengthAs(0x80, 1)).toThrow();
  });

  test("first bytes 0xF8..0xFF are control bytes, not lengths", () => {
    for (const b of [0xf8, 0xfc, 0xff]) {
      expect(() => new SentenceDecoder().push(Buffer.from([b, 0, 0, 0, 0]))).toThrow(ProtocolError);
    }
  });
});

describe("sentence decoder", () => {
  const sentences = [
    ["/ip/address/add", "=address=192.168.0.1/24", "=interface=ether1", ".tag=1"],
    ["/ip/address/print", "?interface=ether1", "=.proplist=.id,address"],
    ["/system/identity/set", `=name=${"x".repeat(300)}`],
    ["/x", "=comment=a=b=c", "=empty="],
  ];
  const bytes = Buffer.concat(sentences.map(encodeSentence));

  test("many sentences in one chunk", () => {
    expect(new SentenceDecoder().push(bytes)).toEqual(sentences);
  });

  test("split at every byte", () => {
    const d = new SentenceDecoder();
    const out: string[][] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...d.push(bytes.subarray(i, i + 1)));
    expect(out).toEqual(sentences);
    expect(d.buffered).toBe(0);
  });

  test("split at every possible single cut point", () => {
    for (let cut = 1; cut < bytes.length; cut++) {
      const d = new SentenceDecoder();
      expect([...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))]).toEqual(sentences);
    }
  });

  test("a word over the limit is refused before it is buffered", () => {
    const d = new SentenceDecoder({ maxWordLength: 1000 });
    expect(() => d.push(encodeLength(1001))).toThrow(/exceeds/);
  });
});

describe("over a socket", () => {
  let sim: RouterOsSim;
  let raw: RawRosClient;
  beforeEach(async () => {
    sim = await startRouterOsSim({ version: "7.16.2" });
    raw = await RawRosClient.connect({ host: sim.host, port: sim.port });
  });
  afterEach(async () => {
    await raw.close();
    await sim.close();
  });

  /** A sentence whose every word uses a length prefix of the given size. */
  const sentenceWithPrefix = (words: string[], size: 1 | 2 | 3 | 4 | 5): Buffer =>
    Buffer.concat([
      ...words.map((w) => Buffer.concat([encodeLengthAs(w.length, size), Buffer.from(w, "latin1")])),
      Buffer.from([0]),
    ]);

  test.each([1, 2, 3, 4, 5] as const)("accepts words with %i-byte length prefixes", async (size) => {
    raw.sendRaw(sentenceWithPrefix(["/login", "=name=admin", "=password=", ".tag=L"], size));
    const login = await raw.readSentence();
    expect(login).toMatchObject({ type: "!done", tag: "L" });
    raw.sendRaw(sentenceWithPrefix(["/system/identity/print", ".tag=P"], size));
    expect(await raw.readSentence()).toMatchObject({ type: "!re", tag: "P", attrs: { name: "MikroTik" } });
    expect(await raw.readSentence()).toMatchObject({ type: "!done", tag: "P" });
  });

  test("sentences split into single bytes and merged into one write", async () => {
    const login = encodeSentence(["/login", "=name=admin", "=password="]);
    for (const byte of login) {
      raw.sendRaw(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    expect((await raw.readSentence()).type).toBe("!done");
    const adds = Array.from({ length: 20 }, (_, i) =>
      encodeSentence(["/ip/firewall/address-list/add", "=list=L", `=address=10.0.0.${i}`, `.tag=${i}`]),
    );
    raw.sendRaw(Buffer.concat(adds));
    const replies = await Promise.all(adds.map(() => raw.readSentence()));
    expect(replies.map((r) => r.attrs.ret)).toEqual(
      Array.from({ length: 20 }, (_, i) => `*${(i + 1).toString(16).toUpperCase()}`),
    );
    expect(sim.entries("/ip/firewall/address-list")).toHaveLength(20);
  });

  test("3- and 4-byte (canonical) words travel both ways", async () => {
    await raw.login("admin", "");
    for (const len of [0x4000, 0x200000 + 10]) {
      const comment = "c".repeat(len);
      const add = await raw.command([
        "/ip/firewall/address-list/add",
        "=list=big",
        "=address=1.2.3.4",
        `=comment=${comment}`,
      ]);
      const id = add.done?.ret;
      const printed = await raw.command(["/ip/firewall/address-list/print", `?.id=${id}`]);
      expect(printed.re[0].comment).toHaveLength(len);
      await raw.command(["/ip/firewall/address-list/remove", `=.id=${id}`]);
    }
  });

  test("a control byte where a length should be ends the connection with !fatal", async () => {
    await raw.login("admin", "");
    raw.sendRaw(Buffer.from([0xf8, 0x01]));
    const fatal = await raw.readSentence();
    expect(fatal.type).toBe("!fatal");
    expect(fatal.words[0]).toMatch(/control byte 0xf8/);
    await raw.closed;
  });

  test("empty sentences are ignored", async () => {
    raw.sendRaw(Buffer.from([0, 0, 0]));
    await raw.login("admin", "");
    expect(sim.log.map((l) => l.command)).toEqual(["/login"]);
  });
});

describe("node-routeros over the wire", () => {
  test("node-routeros writes word by word: without noDelay each sequential command waits for a delayed ACK", async () => {
    const sim = await startRouterOsSim();
    const slow = await connectNodeRouteros(sim);
    const fast = await connectNodeRouteros(sim, { noDelay: true });
    const time = async (c: typeof slow) => {
      const t0 = Date.now();
      for (let i = 0; i < 30; i++) await c.api.write("/system/identity/print");
      return Date.now() - t0;
    };
    try {
      expect(await time(fast)).toBeLessThan(500);
      expect(await time(slow)).toBeGreaterThan(500);
    } finally {
      await slow.close();
      await fast.close();
      await sim.close();
    }
  });

  test("long words (3- and 4-byte prefixes) round-trip through the real client", async () => {
    const sim = await startRouterOsSim();
    const client = await connectNodeRouteros(sim);
    try {
      for (const len of [0x4000, 0x200000 + 3]) {
        const comment = "z".repeat(len);
        const [{ ret }] = await client.api.write("/ip/firewall/address-list/add", [
          "=list=big",
          `=address=10.9.9.${len % 250}`,
          `=comment=${comment}`,
        ]);
        const [item] = await client.api.write("/ip/firewall/address-list/print", [`?.id=${ret}`]);
        expect(item.comment).toBe(comment);
      }
    } finally {
      await client.close();
      await sim.close();
    }
  });
});
