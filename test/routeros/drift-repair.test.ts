/**
 * Drift repair with the commands each menu really has (RouterOS 7.9-7.24 data, see conformance.test.ts):
 * owned entries disabled by hand, or given a timeout, are put back by the next apply — through the real
 * provider module and node-routeros against the simulator, whose menus refuse `unset` where RouterOS has
 * none and `unset value-name=disabled` where RouterOS does not offer it. RouterOS 6 has no such data; the
 * simulator assumes it has the same commands, and the same repair is shown there.
 */
import * as provider from "../../provider/index";
import { seedNthSticky } from "../fixtures/specs";
import type { RouterOsSim } from "../../labs/routeros-sim";
import { menusOf, owned, seedRouter, targetOf, up, writesSince } from "./support";

type Props = Record<string, unknown>;

describe.each(["6.49.10", "7.11.3", "7.16.2", "7.22"])(
  "RouterOS %s: hand-made drift of owned entries is repaired",
  (version) => {
    let sim: RouterOsSim;
    beforeEach(async () => {
      sim = await seedRouter(version);
    });
    afterEach(async () => sim.close());

    const stateOf = () => menusOf(sim).map((m) => owned(sim, m));
    const byKey = (menu: string, key: string) =>
      owned(sim, menu).find((e) => e.comment === `lbgw:gw:${key}`) as Record<string, string>;

    test("disabled rules, list entries and members are enabled; a hand-given timeout is re-added away", async () => {
      const first = await up(seedNthSticky({ target: targetOf(sim) }));
      const converged = stateOf();
      const mangleOrder = () => sim.entries("/ip/firewall/mangle").map((e) => e.comment);
      const order = mangleOrder();

      const rule = owned(sim, "/ip/firewall/mangle")[3];
      const [entry, timed] = owned(sim, "/ip/firewall/address-list");
      const member = owned(sim, "/interface/list/member")[0];
      sim.edit.set("/ip/firewall/mangle", rule[".id"], { disabled: "yes" });
      sim.edit.set("/ip/firewall/address-list", entry[".id"], { disabled: "yes" });
      sim.edit.set("/ip/firewall/address-list", timed[".id"], { timeout: "1h" });
      sim.edit.set("/interface/list/member", member[".id"], { disabled: "yes" });
      expect(stateOf()).not.toEqual(converged);

      // `pulumi refresh` sees it; the next `pulumi up` writes the device back.
      const read = await provider.read(first.id, first.outs as Props);
      expect(read.props).not.toEqual(first.outs);
      const from = sim.log.length;
      const updated = await provider.update(first.id, first.outs as Props, first.inputs);
      const writes = writesSince(sim, from);
      expect(writes).not.toContainEqual(expect.stringMatching(/\/unset /));
      expect(writes).toEqual(
        expect.arrayContaining([
          `/ip/firewall/mangle/enable ${rule[".id"]}`,
          `/ip/firewall/address-list/enable ${entry[".id"]}`,
          `/interface/list/member/enable ${member[".id"]}`,
          `/ip/firewall/address-list/remove ${timed[".id"]}`,
          `/ip/firewall/address-list/add ${timed.comment}`,
        ]),
      );
      // Unordered menus may list a re-added entry last; the ordered mangle is compared in order below.
      const strip = (s: Array<Array<Record<string, string>>>) =>
        s.map((m) =>
          m
            .map(({ ".id": _id, "creation-time": _t, ...rest }) => rest)
            .sort((a, b) => a.comment.localeCompare(b.comment)),
        );
      expect(strip(stateOf())).toEqual(strip(converged));
      expect(byKey("/ip/firewall/address-list", timed.comment.slice("lbgw:gw:".length))).not.toHaveProperty(
        "timeout",
      );
      expect(mangleOrder()).toEqual(order);
      expect(updated.outs).toEqual(first.outs);

      // Converged: the next apply writes nothing.
      const again = sim.log.length;
      await provider.update(first.id, updated.outs as Props, first.inputs);
      expect(writesSince(sim, again)).toEqual([]);
    });

    test("a mangle rule given an argument its menu cannot unset is re-added in its place", async () => {
      const first = await up(seedNthSticky({ target: targetOf(sim) }));
      const order = sim.entries("/ip/firewall/mangle").map((e) => e.comment);
      const rule = byKey("/ip/firewall/mangle", "classify:1");
      // A hand-given address-list-timeout: mangle's unset does not offer it.
      sim.edit.set("/ip/firewall/mangle", rule[".id"], { "address-list-timeout": "1h" });
      const from = sim.log.length;
      await provider.update(first.id, first.outs as Props, first.inputs);
      const writes = writesSince(sim, from);
      expect(writes).toEqual([
        `/ip/firewall/mangle/remove ${rule[".id"]}`,
        "/ip/firewall/mangle/add lbgw:gw:classify:1",
        expect.stringMatching(/^\/ip\/firewall\/mangle\/move /),
      ]);
      expect(sim.entries("/ip/firewall/mangle").map((e) => e.comment)).toEqual(order);
      expect(byKey("/ip/firewall/mangle", "classify:1")).not.toHaveProperty("address-list-timeout");
    });
  },
);
