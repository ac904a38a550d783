/**
 * `lbgw render --target linux`: a POSIX sh script that, run as root on the gateway, applies what the
 * provider applies over SSH: the same routes and rules, the same sysctls and prober through the same fixed
 * scripts (remote.ts), the same nft table replacement. It is idempotent: running it twice changes nothing
 * the second time except re-adding the owned rules and routes.
 *
 * The same script without its prober step is boot.sh, installed with the prober: the prober's systemd unit
 * runs it after a reboot, before the prober starts (`prober.sh boot`).
 */
import type { Plan } from "../plan/plan";
import type { Spec } from "../spec/schema";
import { proberHash } from "./prober";
import { LIB_DIR, MARK_BASE } from "./ids";
import type { Claim } from "../common/claim";
import { formatClaim } from "../common/claim";
import { concreteRules } from "./lines";
import {
  heredoc,
  PROBER_INSTALL_SCRIPT,
  proberInstallInput,
  SYSCTL_SCRIPT,
  sysctlInput,
  sysctlSet,
} from "./remote";
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

export interface LinuxScriptOptions {
  /** Include the last step, which installs and (re)starts the prober; default true. */
  prober?: boolean;
  /** Write this claim (common/claim.ts): the resource that will import the configuration holds it. */
  claim?: Claim;
}

export function renderLinuxScript(spec: Spec, plan: Plan, opts: LinuxScriptOptions = {}): string {
  if (spec.owner !== plan.owner) throw new Error(`spec owner ${spec.owner} is not the plan's ${plan.owner}`);
  return linuxScript(renderLinux(plan), opts);
}

/** boot.sh: the configuration without the prober step, run by the prober's unit after a reboot. */
export const bootScript = (d: LinuxDesired): string => linuxScript(d, { prober: false });

/**
 * The identity of the installed prober files (prober.sh, prober.conf, boot.sh): the hash in the prober's
 * line, as files_hash (remote.ts) computes it on the gateway. A changed boot.sh is drift.
 */
export const proberFilesHash = (d: LinuxDesired): string =>
  proberHash(d.prober.script, d.prober.conf, bootScript(d));

export function linuxScript(d: LinuxDesired, opts: LinuxScriptOptions = {}): string {
  const table = d.nft.name;
  const source = d.rules.flatMap((r) => (r.kind === "source" ? [r] : []));
  const out: string[] = [
    "#!/bin/sh",
    `# pulumi-loadbalanced-gateway: Linux gateway configuration for owner ${d.owner} (${d.about}).`,
    "# Run as root on the gateway. Owns: nft table inet " +
      table +
      ", routing tables " +
      `${OWNED_TABLES[0]}-${OWNED_TABLES[OWNED_TABLES.length - 1]}, ip rules at priorities ${PRIO_MAIN}-${PRIO_ROUTER}, the prober`,
    `# under ${LIB_DIR}/${d.owner}. Marks: link k = 0x${MARK_BASE.toString(16)} + k, table ${TABLE_BASE} + k.`,
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
      concreteRules(
        d.rules.filter((r) => r.kind === "fixed"),
        new Map(),
      )
        .map((r) => `rule add ${r}`)
        .join("\n"),
      "IP",
    ),
    "# Source-address rules: the uplink's current addresses.",
    ...source.map(
      (r) =>
        `for a in $(ip -4 -o addr show dev ${shellQuote(r.iface)} | awk '{ split($4, a, "/"); print a[1] }'); do ` +
        `ip -4 rule add pref ${r.priority} from "$a" lookup ${r.table}; done`,
    ),
    "",
    "# 3. sysctls (the previous values are recorded for delete).",
    `LBGW_SYSCTL=$(${heredoc("cat", SYSCTL_SCRIPT, "CODE")}\n)`,
    heredoc('sh -c "$LBGW_SYSCTL" lbgw', sysctlInput(d.owner, sysctlSet(d)), "DATA"),
    "",
    `# 4. The nft table, replaced in one transaction.`,
    heredoc("nft -f -", nftReplaceFile(d.nft), "NFT"),
    ...(opts.prober === false
      ? []
      : [
          "",
          "# 5. The health prober, with this script's steps 1-4 as boot.sh (its unit runs that after a reboot).",
          `LBGW_PROBER=$(${heredoc("cat", PROBER_INSTALL_SCRIPT, "CODE")}\n)`,
          heredoc('sh -c "$LBGW_PROBER" lbgw', proberInstallInput(d, bootScript(d)), "DATA"),
        ]),
    ...(opts.claim
      ? [
          "",
          "# 6. The claim of the Pulumi resource that will import this configuration (pulumi import).",
          `mkdir -p ${LIB_DIR}/${d.owner}`,
          `printf '%s\\n' ${shellQuote(formatClaim(opts.claim).trim())} > ${LIB_DIR}/${d.owner}/claim`,
        ]
      : []),
    `echo "lbgw: gateway configured for owner ${d.owner}"`,
  ];
  return out.join("\n") + "\n";
}
