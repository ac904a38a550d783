/**
 * The packet-path evaluator's dynamic address lists: `add-src-to-address-list` on an address the list
 * already holds (dynamically) restarts the entry's timeout, as RouterOS does; sticky's idle timeout
 * (provider/routeros/render.ts, `sticky:refresh:<link>`) relies on it. `refreshAddressListTimeout: false`
 * models a router that would not, to show what depends on it.
 */
import { PacketPath, ProbeWorld, type RosTables } from "../../labs/routeros-sim/packet-path";

const tables: RosTables = {
  "/ip/address": [
    { ".id": "*1", address: "192.168.0.1/24", network: "192.168.0.0", interface: "Local", disabled: "false" },
    { ".id": "*2", address: "10.111.0.2/24", network: "10.111.0.0", interface: "wlan2", disabled: "false" },
  ],
  "/ip/route": [
    { ".id": "*R1", "dst-address": "0.0.0.0/0", gateway: "10.111.0.1", distance: "1", disabled: "false" },
  ],
  "/ip/firewall/mangle": [
    {
      ".id": "*M1",
      chain: "prerouting",
      "in-interface": "Local",
      action: "add-src-to-address-list",
      "address-list": "seen",
      "address-list-timeout": "1m",
      disabled: "false",
    },
  ],
};

const seen = (pp: PacketPath) => pp.dynamicAddressList().filter((e) => e.list === "seen");

test.each([
  [true, ["192.168.0.7"]],
  [false, []],
])(
  "re-adding a listed address, refresh %s: restarted timeout (true) or the first one kept (false)",
  (refresh, after) => {
    const pp = new PacketPath(() => tables, {
      major: 7,
      world: new ProbeWorld(),
      refreshAddressListTimeout: refresh,
    });
    const flow = pp.open({ inInterface: "Local", src: "192.168.0.7", dst: "203.0.113.9", protocol: "tcp" });
    expect(seen(pp)).toEqual([{ list: "seen", address: "192.168.0.7", expiresAt: 60_000 }]);
    pp.advance(50_000);
    pp.packet(flow, "original"); // the entry is re-added at 50 s
    pp.advance(50_000); // 100 s: past the first timeout, within the restarted one
    expect(seen(pp).map((e) => e.address)).toEqual(after);
    pp.advance(10_000); // 110 s: 1m after the last packet
    expect(seen(pp)).toEqual([]);
  },
);
