/**
 * The peers the data-plane benchmark (dataplane.ts) measures beside the provider's generated ruleset: what a
 * user would run instead, on the namespace lab's gateway with its 2 uplinks, weights 1:1, NAT per uplink.
 * Each is a shell script run once in the gateway's namespace (`sh -eu`), with iptables-nft (the `iptables`
 * command of Debian's `iptables` package, nf_tables backend) and, for mwan3, ipset.
 *
 * - seed003: seed 003 of ../shared/seeds ("Links load balancing", netfilter + iproute2) as its text intends,
 *   its mistakes corrected (see ../shared/notes/seeds-and-errata.md, section 003).
 * - mwan3: what OpenWrt's mwan3 (openwrt/packages, net/mwan3/files/lib/mwan3/mwan3.sh and common.sh, the
 *   iptables generation) installs for one policy of two members, weights 1:1, sticky off, with its default
 *   catch-all rule. Written here in our own words from reading that generator; nothing is copied from it.
 *
 * Both leave the kernel's reverse-path filter as the lab has it (rp_filter 2, loose, src_valid_mark 0): the
 * replies' source check then uses the main table, so each peer has a main default route (seed 003: one via
 * uplink 1, as DHCP leaves it; mwan3: one per uplink, as OpenWrt's netifd installs them, with metrics).
 */
import type { LabAddresses } from "../labs/linux-lab";
import { ensureLabTools } from "./lab";

export type Peer = "seed003" | "mwan3";
export const PEERS: Peer[] = ["seed003", "mwan3"];

/** Commands the peers need: Debian's iptables and ipset, which scripts/lab-deps.sh installs with the lab's. */
const PEER_TOOLS = ["iptables", "iptables-restore", "ipset"];

/** The peers' tools (scripts/lab-deps.sh installs them when missing, root only). Whether they are there. */
export const ensurePeerTools = (): Promise<boolean> => ensureLabTools(PEER_TOOLS);

/**
 * Seed 003, two links, weights 1:1 (the seed's own 3:1 over a pool of 4 becomes a pool of 2: slot 1 -> mark 1,
 * slot 2 -> mark 2, which is what the generated ruleset's `numgen inc mod 2` does).
 *
 * From the seed, kept: `CONNMARK --restore-mark` first in mangle PREROUTING; packets still unmarked go
 * through a MARKING chain that picks the link by an nth pool; `CONNMARK --save-mark` in POSTROUTING; one
 * routing table per link holding its default route, `ip rule fwmark N lookup <table N>` (no pref, as in
 * the text: the kernel puts each new rule before the previous one); NAT by mark.
 *
 * Corrected:
 * - the nth pool in the modern syntax the seed mentions (`-m statistic --mode nth`): that counter is per rule
 *   and counts only the packets that reach the rule, so one rule per slot with `--every N --packet 0..N-1`
 *   does not split the traffic. Here the standard cascade: `--every 2 --packet 0` takes every second new
 *   connection, the rule after it takes the rest (those still unmarked).
 * - "mark 2 ... via LINK1" and "mark 2 get IP of link 1": link 2 (table 102, NAT of mark 2 out of wan2).
 * - the seed's `iptables -A POSTROUTING -j CONNMARK --save-mark` has no `-t mangle` (the filter table has no
 *   POSTROUTING chain): it is in mangle.
 * - the tables hold only a default route in the text, so a reply to a LAN host, whose restored mark sends it
 *   to its link's table, would leave by the uplink again: each table also holds the LAN's route (as the
 *   LARTC split-access recipe the seed follows does).
 *
 * Left out: the failover of the seed's `-m condition` flags. Every link is taken as up (the condition match is
 * xtables-addons', not in mainline kernels, and the seed has no prober to set the flags): with both links up, the seed's
 * up/down rule pairs reduce to the one rule per slot below.
 */
export function seed003Script(a: LabAddresses): string {
  const [l1, l2] = a.uplinks;
  return `
# routing: one table per link (101, 102) with its default route; the LAN's route too (correction, see above)
ip route replace default via ${l1.gateway} dev ${l1.iface} table 101
ip route replace ${a.lanNet} dev ${a.lanIface} table 101
ip route replace default via ${l2.gateway} dev ${l2.iface} table 102
ip route replace ${a.lanNet} dev ${a.lanIface} table 102
ip rule add fwmark 1 lookup 101
ip rule add fwmark 2 lookup 102
# the main table's default route, as DHCP on uplink 1 leaves it (the replies' loose reverse-path check)
ip route replace default via ${l1.gateway} dev ${l1.iface}
iptables-restore --noflush <<'EOF'
*mangle
:MARKING - [0:0]
-A PREROUTING -j CONNMARK --restore-mark
-A PREROUTING -m mark --mark 0x0 -j MARKING
-A MARKING -m statistic --mode nth --every 2 --packet 0 -j MARK --set-mark 1
-A MARKING -m mark --mark 0x0 -j MARK --set-mark 2
-A POSTROUTING -j CONNMARK --save-mark
COMMIT
*nat
-A POSTROUTING -o ${l1.iface} -m mark --mark 1 -j MASQUERADE
-A POSTROUTING -o ${l2.iface} -m mark --mark 2 -j MASQUERADE
COMMIT
EOF
`;
}

/** mwan3's marks: the default `mmx_mask` 0x3F00 (6 bits), interface ids 1.. spread into it. */
const MWAN3_MASK = 0x3f00;
const mwan3Mark = (id: number) => `0x${(id << 8).toString(16)}`;
const M = `0x${MWAN3_MASK.toString(16)}`;
/** All 6 bits: "default" (use the main table); 61 and 62: blackhole and unreachable. */
const MWAN3_DEFAULT = mwan3Mark(63);
const MWAN3_BLACKHOLE = mwan3Mark(61);
const MWAN3_UNREACHABLE = mwan3Mark(62);

/**
 * mwan3 for the lab's 2 uplinks as two mwan3 interfaces (named after their devices, ids 1 and 2), one policy
 * `balanced` with a member of weight 1 and metric 1 on each (sticky off), and mwan3's default rule sending
 * all IPv4 (0.0.0.0/0) to it. What mwan3 installs for that, in its order:
 *
 * - ipsets (init: set_dynamic_ipset, set_connected_ipset, set_custom_ipset; mwan3rtmon fills `connected`):
 *   mwan3_connected_ipv4 (hash:net: every destination of the main table, every address of the local table,
 *   224.0.0.0/3), mwan3_custom_ipv4 (hash:net: routes of the `rt_table_lookup` tables, none here),
 *   mwan3_dynamic_ipv4 (list:set, empty).
 * - ip rules (set_general_rules, create_iface_rules): per interface id, pref 1000+id `iif <dev> lookup id`,
 *   2000+id `fwmark <id mark>/mask lookup id`, 3000+id `fwmark <id mark>/mask unreachable`; 2061 and 2062
 *   blackhole and unreachable for their marks.
 * - routing table id per interface (create_iface_route): a copy of the main table's routes, except the
 *   routes of the other mwan3 interfaces and the default routes not through this one.
 * - mangle (set_general_iptables): mwan3_hook from PREROUTING and OUTPUT: restore the connection's mark
 *   (masked) while unmarked, then while still unmarked mwan3_ifaces_in, the custom, connected and dynamic
 *   chains (destination in the set -> "default" mark), mwan3_rules; save the mark; then the three set chains
 *   again for packets whose mark is not "default".
 * - per interface (create_iface_iptables): mwan3_iface_in_<iface>: arriving on its device from a network
 *   of one of the three sets -> "default", else (unmarked) its own mark; jumped to from mwan3_ifaces_in.
 * - the policy (create_policies_iptables, then set_policy per member): the chain's last-resort rule is
 *   replaced by the first member's rule (unconditional), and each further member of the same metric is
 *   inserted before it with `-m statistic --mode random --probability weight*1000/total_weight` (1/2 for
 *   the second of two weight-1 members, written "0.500").
 * - the user rule (set_user_rules): `-p all -d 0.0.0.0/0`, unmarked -> the policy chain.
 *
 * NAT is not mwan3's: OpenWrt's firewall masquerades its wan zone; here one MASQUERADE per uplink.
 */
export function mwan3Script(a: LabAddresses): string {
  const links = a.uplinks.slice(0, 2).map((u, i) => ({ ...u, id: i + 1, mark: mwan3Mark(i + 1) }));
  const devs = links.map((l) => l.iface);
  const sets = ["custom", "connected", "dynamic"];
  const mangle: string[] = [
    "*mangle",
    ":mwan3_ifaces_in - [0:0]",
    ...sets.map((s) => `:mwan3_${s}_ipv4 - [0:0]`),
    ":mwan3_rules - [0:0]",
    ":mwan3_hook - [0:0]",
    ...links.map((l) => `:mwan3_iface_in_${l.iface} - [0:0]`),
    ":mwan3_policy_balanced - [0:0]",
    // set_general_iptables
    ...sets.map(
      (s) =>
        `-A mwan3_${s}_ipv4 -m set --match-set mwan3_${s}_ipv4 dst -j MARK --set-xmark ${MWAN3_DEFAULT}/${M}`,
    ),
    `-A mwan3_hook -m mark --mark 0x0/${M} -j CONNMARK --restore-mark --nfmask ${M} --ctmask ${M}`,
    `-A mwan3_hook -m mark --mark 0x0/${M} -j mwan3_ifaces_in`,
    ...sets.map((s) => `-A mwan3_hook -m mark --mark 0x0/${M} -j mwan3_${s}_ipv4`),
    `-A mwan3_hook -m mark --mark 0x0/${M} -j mwan3_rules`,
    `-A mwan3_hook -j CONNMARK --save-mark --nfmask ${M} --ctmask ${M}`,
    ...sets.map((s) => `-A mwan3_hook -m mark ! --mark ${MWAN3_DEFAULT}/${M} -j mwan3_${s}_ipv4`),
    "-A PREROUTING -j mwan3_hook",
    "-A OUTPUT -j mwan3_hook",
    // create_iface_iptables, per interface
    ...links.flatMap((l) => [
      ...sets.map(
        (s) =>
          `-A mwan3_iface_in_${l.iface} -i ${l.iface} -m set --match-set mwan3_${s}_ipv4 src -m mark --mark 0x0/${M} -m comment --comment default -j MARK --set-xmark ${MWAN3_DEFAULT}/${M}`,
      ),
      `-A mwan3_iface_in_${l.iface} -i ${l.iface} -m mark --mark 0x0/${M} -m comment --comment ${l.iface} -j MARK --set-xmark ${l.mark}/${M}`,
      `-A mwan3_ifaces_in -m mark --mark 0x0/${M} -j mwan3_iface_in_${l.iface}`,
    ]),
    // the policy as set_policy leaves it: the second member (random 1/2) before the first
    `-A mwan3_policy_balanced -m mark --mark 0x0/${M} -m statistic --mode random --probability 0.500 -m comment --comment "${links[1].iface} 1 2" -j MARK --set-xmark ${links[1].mark}/${M}`,
    `-A mwan3_policy_balanced -m mark --mark 0x0/${M} -m comment --comment "${links[0].iface} 1 1" -j MARK --set-xmark ${links[0].mark}/${M}`,
    // the user rule default_rule_v4
    `-A mwan3_rules -p all -d 0.0.0.0/0 -m mark --mark 0x0/${M} -j mwan3_policy_balanced`,
    "COMMIT",
  ];
  const nat = ["*nat", ...links.map((l) => `-A POSTROUTING -o ${l.iface} -j MASQUERADE`), "COMMIT"];
  return `
# netifd: a default route per wan interface in the main table, by metric
${links.map((l) => `ip route replace default via ${l.gateway} dev ${l.iface} metric ${l.id * 10}`).join("\n")}
# ipsets
ipset -! create mwan3_custom_ipv4 hash:net
ipset -! create mwan3_connected_ipv4 hash:net
ipset -! create mwan3_dynamic_ipv4 list:set
for net in $(ip -4 route show table main | awk '$1 ~ /^[0-9]/ {print $1}') \\
           $(ip -4 route show table local | awk '{print $2}') 224.0.0.0/3; do
  ipset -! add mwan3_connected_ipv4 "$net"
done
# ip rules and the per-interface tables
ip rule add pref 2061 fwmark ${MWAN3_BLACKHOLE}/${M} blackhole
ip rule add pref 2062 fwmark ${MWAN3_UNREACHABLE}/${M} unreachable
${links
  .map(
    (l) => `ip rule add pref ${1000 + l.id} iif ${l.iface} lookup ${l.id}
ip rule add pref ${2000 + l.id} fwmark ${l.mark}/${M} lookup ${l.id}
ip rule add pref ${3000 + l.id} fwmark ${l.mark}/${M} unreachable
ip -4 route show table main | while read -r route; do
  dev=$(echo "$route" | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')
  case " ${devs.join(" ")} " in
    *" $dev "*) [ "$dev" = ${l.iface} ] || continue ;;
    *) case "$route" in default*) continue ;; esac ;;
  esac
  ip route add table ${l.id} $route
done`,
  )
  .join("\n")}
iptables-restore --noflush <<'EOF'
${[...mangle, ...nat].join("\n")}
EOF
`;
}

export const peerScript = (peer: Peer, a: LabAddresses): string =>
  peer === "seed003" ? seed003Script(a) : mwan3Script(a);
