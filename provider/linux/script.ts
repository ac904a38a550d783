/**
 * `lbgw render --target linux`: a POSIX sh script that, run as root on the gateway, applies what the
 * provider applies over SSH: the same routes and rules, the same sysctls and prober through the same fixed
 * scripts (remote.ts), the same nft table replacement. It is idempotent: running it twice changes nothing
 * the second time except re-adding the owned rules and routes.
 */
import type { Plan } from "../plan/plan";
import type { Spec } from "../spec/schema";
import { frame, PROBER_INSTALL_SCRIPT, SYSCTL_SCRIPT } from "./remote";
import type { LinuxDesired } from "./render";
import {
  nftReplaceFile,
  OWNED_TABLES,
  PRIO_FWMARK,
  PRIO_MAIN,
  PRIO_ROUTER,
  PRIO_SOURCE,
  renderLinux,
  TABLE_BASE,
} from "./render";
import { shellQuote } from "./session";

/** A quoted here-document whose delimiter cannot occur in the body. */
function heredoc(command: string, body: string, tag: string): string {
  const delim = `LBGW_${tag}_EOF`;
  if (body.split("\n").includes(delim)) throw new Error(`here-document body contains ${delim}`);
  return `${command} <<'${delim}'\n${body.endsWith("\n") ? body : body + "\n"}${delim}`;
}

export function renderLinuxScript(spec: Spec, plan: Plan): string {
  return linuxScript(
    renderLinux(plan),
    `strategy ${plan.strategy}, ${plan.links.length} uplinks, spec owner ${spec.owner}`,
  );
}

export function linuxScript(d: LinuxDesired, about: string): string {
  const table = d.nft.name;
  const fixed = d.rules.filter((r) => r.kind === "fixed");
  const source = d.rules.filter((r) => r.kind === "source");
  const out: string[] = [
    "#!/bin/sh",
    `# pulumi-loadbalanced-gateway: Linux gateway configuration for owner ${d.owner} (${about}).`,
    "# Run as root on the gateway. Owns: nft table inet " +
      table +
      ", routing tables " +
      `${OWNED_TABLES[0]}-${OWNED_TABLES[OWNED_TABLES.length - 1]}, ip rules at priorities ${PRIO_MAIN}-${PRIO_ROUTER}, the prober`,
    `# under /usr/local/lib/lbgw/${d.owner}. Marks: link k = 0x${(0x100).toString(16)} + k, table ${TABLE_BASE} + k.`,
    "set -eu",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    '[ "$(id -u)" -eq 0 ] || { echo "run this as root" >&2; exit 1; }',
    `if nft list tables | grep '^table inet lbgw_' | grep -qvx ${shellQuote(`table inet ${table}`)}; then`,
    '  echo "another LoadBalancedGateway owns this gateway (nft list tables)" >&2; exit 1',
    "fi",
    "",
    "# 1. One routing table per uplink: its default route, then its fallbacks.",
    `for t in ${OWNED_TABLES.join(" ")}; do ip -4 route flush table "$t" 2>/dev/null || true; done`,
    heredoc("ip -4 -batch -", d.routes.map((r) => `route replace ${r}`).join("\n"), "IP"),
    "",
    "# 2. Rules at fixed priorities (ours: priority and table as below), removed and added again.",
    `while ip -4 rule del pref ${PRIO_MAIN} lookup main suppress_prefixlength 0 2>/dev/null; do :; done`,
    `for k in $(seq 1 ${OWNED_TABLES.length}); do`,
    `  for p in $((${PRIO_FWMARK} + k)) $((${PRIO_SOURCE} + k)) ${PRIO_ROUTER}; do`,
    `    while ip -4 rule del pref "$p" lookup $((${TABLE_BASE} + k)) 2>/dev/null; do :; done`,
    "  done",
    "done",
    heredoc(
      "ip -4 -batch -",
      fixed.map((r) => `rule add pref ${r.priority} ${r.kind === "fixed" ? r.args : ""}`).join("\n"),
      "IP",
    ),
    "# Source-address rules: the uplink's current addresses.",
    ...source.map((r) =>
      r.kind === "source"
        ? `for a in $(ip -4 -o addr show dev ${shellQuote(r.iface)} | awk '{ split($4, a, "/"); print a[1] }'); do ` +
          `ip -4 rule add pref ${r.priority} from "$a" lookup ${r.table}; done`
        : "",
    ),
    "",
    "# 3. sysctls (the previous values are recorded for delete).",
    `LBGW_SYSCTL=$(cat <<'LBGW_CODE_EOF'\n${SYSCTL_SCRIPT}LBGW_CODE_EOF\n)`,
    heredoc(
      'sh -c "$LBGW_SYSCTL" lbgw',
      frame({ owner: d.owner, set: d.sysctls.map((s) => `${s.path} ${s.value}`).join("\n") + "\n" }),
      "DATA",
    ),
    "",
    `# 4. The nft table, replaced in one transaction.`,
    heredoc("nft -f -", nftReplaceFile(d.nft), "NFT"),
    "",
    "# 5. The health prober: installed and (re)started.",
    `LBGW_PROBER=$(cat <<'LBGW_CODE_EOF'\n${PROBER_INSTALL_SCRIPT}LBGW_CODE_EOF\n)`,
    heredoc(
      'sh -c "$LBGW_PROBER" lbgw',
      frame({ owner: d.owner, script: d.prober.script, conf: d.prober.conf }),
      "DATA",
    ),
    `echo "lbgw: gateway configured for owner ${d.owner}"`,
  ];
  return out.join("\n") + "\n";
}
