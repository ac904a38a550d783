/**
 * What the router prints of its data plane, fed from a packet-path evaluator: the connection table
 * (`/ip/firewall/connection`) and the dynamic address-list entries its mangle rules made
 * (`add-src-to-address-list`). Read-only views, made at each print (RouterOsSim.live); the evaluator keeps
 * reading the configuration only (`sim.entries`), so these never feed back into it. The rows cannot be
 * removed through the API (`no such item`): undo the view before anything removes them (a destroy removes
 * the sticky lists' dynamic entries).
 */
import type { Flow, PacketPath } from "./packet-path";
import type { RouterOsSim } from "./server";
import { formatDuration } from "./values";

const withPort = (address: string, port?: number) => (port === undefined ? address : `${address}:${port}`);

/**
 * Shows `pp`'s connections and dynamic address-list entries in `sim`'s prints; returns the undo. The
 * evaluator never closes a connection: `open` tells which are still in the table (default: all).
 */
export function showDataPlane(
  sim: RouterOsSim,
  pp: PacketPath,
  opts: { open?: (f: Flow) => boolean } = {},
): () => void {
  const open = opts.open ?? (() => true);
  sim.live("/ip/firewall/connection", () =>
    pp
      .connections()
      .filter(open)
      .map((c) => {
        const o = c.original;
        const replySrc = c.dstNat ?? { address: o.dst, port: o.dstPort };
        const replyDst = c.srcNat ?? { address: o.src, port: o.srcPort };
        const established = c.state === "established";
        return {
          ".id": `*${(0x10000 + c.id).toString(16).toUpperCase()}`,
          protocol: o.protocol,
          "src-address": withPort(o.src, o.srcPort),
          "dst-address": withPort(o.dst, o.dstPort),
          "reply-src-address": withPort(replySrc.address, replySrc.port),
          "reply-dst-address": withPort(replyDst.address, replyDst.port),
          ...(o.protocol === "tcp" ? { "tcp-state": established ? "established" : "syn-sent" } : {}),
          // Printed only when the connection has one (an unmarked connection has no such property).
          ...(c.connectionMark ? { "connection-mark": c.connectionMark } : {}),
          timeout: o.protocol === "tcp" ? (established ? "23h59m59s" : "5s") : "10s",
          "seen-reply": String(established),
          assured: String(established),
          confirmed: "true",
          srcnat: String(c.srcNat !== undefined),
          dstnat: String(c.dstNat !== undefined),
        };
      }),
  );
  sim.live("/ip/firewall/address-list", () =>
    pp.dynamicAddressList().map((e, i) => ({
      ".id": `*${(0x100000 + i).toString(16).toUpperCase()}`,
      list: e.list,
      address: e.address,
      ...(Number.isFinite(e.expiresAt)
        ? { timeout: formatDuration(Math.ceil((e.expiresAt - pp.now()) / 1000) * 1000, sim.version) }
        : {}),
      dynamic: "true",
      disabled: "false",
    })),
  );
  return () => {
    sim.live("/ip/firewall/connection", undefined);
    sim.live("/ip/firewall/address-list", undefined);
  };
}
