/**
 * Two links probing one target (as mwan3 users track 1.1.1.1 on every uplink), with real traffic on the
 * namespace lab: the prober pings the target through each link (its ping is bound to the uplink and
 * carries the link's mark), so when one ISP's upstream fails only that link goes down and only its new
 * connections move. Root only (network namespaces); skipped with a banner elsewhere.
 */
import { createLab, ensureLabDeps, type Lab } from "../../labs/linux-lab";
import { exampleArgs, labBackend, labSpec, proberState, rootSuite, waitFor } from "./support";

const suite = rootSuite("Linux shared probe target lab test");
jest.setTimeout(120_000);

suite("Linux: two links share one probe target", () => {
  let lab: Lab;
  let owner: string;

  beforeAll(async () => {
    await ensureLabDeps();
    lab = await createLab({ uplinks: 2, clients: 8, label: "test/linux/shared-target.test.ts" });
    owner = `s${lab.id}`;
    await lab.startServer();
  }, 600_000);

  afterAll(async () => {
    if (lab) await lab.destroy();
  }, 120_000);

  const state = () => proberState(lab, owner);
  const seen = async () =>
    (
      await lab.connectMany(
        lab.addresses.clients.map((from) => ({ from, count: 2 })),
        { allowErrors: true, timeoutMs: 300 },
      )
    ).map((r) => r.seenAs);

  test("each link probes the shared target through itself: only the failed link's connections move", async () => {
    const shared = lab.addresses.server;
    const args = exampleArgs(lab, { weights: [1, 1] });
    for (const l of args.links) l.check = { ...l.check, targets: [shared] };
    const b = await labBackend(labSpec(lab, owner, args));
    await b.apply(() => undefined);
    const [up1, up2] = lab.addresses.uplinks.map((u) => u.address);
    await waitFor(
      "both links up",
      async () => /^link1 1$/m.test(await state()) && /^link2 1$/m.test(await state()),
      20_000,
    );
    expect(new Set(await seen())).toEqual(new Set([up1, up2]));

    for (const [failed, other, live] of [
      [1, "link2", up2],
      [2, "link1", up1],
    ] as const) {
      await lab.failUpstream(failed);
      try {
        await waitFor(
          `link${failed} down`,
          async () => new RegExp(`^link${failed} 0$`, "m").test(await state()),
          10_000,
        );
        // the other link probes the same address through its own ISP: still up, and it takes every new connection
        expect(await state()).toMatch(new RegExp(`^${other} 1$`, "m"));
        await waitFor(
          "new connections on the live link",
          async () => (await seen()).every((s) => s === live),
          10_000,
        );
      } finally {
        await lab.restoreUpstream(failed);
      }
      await waitFor(
        `link${failed} back`,
        async () => new RegExp(`^link${failed} 1$`, "m").test(await state()),
        15_000,
      );
      await waitFor("both links used again", async () => new Set(await seen()).size === 2, 10_000);
    }
  });
});
