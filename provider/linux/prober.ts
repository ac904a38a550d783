/**
 * The on-box health prober: a POSIX sh script (the same text on every gateway) plus a generated config.
 *
 * Every tick it pings each link's check targets *through that link* (`ping -I <uplink> -m <link mark>`:
 * the mark selects the link's routing table, the interface binding forbids a fallback route), so a failure
 * beyond the ISP's router is seen. failAfter bad rounds mark a link down, recoverAfter good rounds up again.
 * On a change it rewrites, in one `nft -f` transaction, the slot map (the slots spread over the live links
 * of the best tier that has any, by weight) and the `live` map (each link → itself or its first live
 * fallback: pins, router traffic and sticky users follow it), then deletes sticky entries of dead links.
 * It records what it wrote, with its configuration's hash (maps file, updated with the maps under a lock
 * the read takes too), so `read` can tell its changes from drift, and logs to a file and syslog.
 *
 * Files: /usr/local/lib/lbgw/<owner>/{prober.sh,prober.conf,boot.sh}, runtime
 * /run/lbgw/<owner>/{pid,state,status,maps,log,configured} (status: per link up/down, since, last round,
 * for `lbgw status`). Under systemd (PID 1, same network namespace) it runs as lbgw-<owner>-prober.service, whose ExecStartPre (`prober.sh boot`) first restores the configuration
 * after a reboot (boot.sh, see script.ts); elsewhere as a setsid'd supervisor loop that restarts it
 * (pidfile = the process group).
 */
import { createHash } from "node:crypto";
import type { Plan } from "../plan/plan";
import { linkByName } from "../plan/plan";
import { hexMark, linkMark, RUN_DIR, tableName } from "./ids";

export interface ProberFiles {
  script: string;
  conf: string;
  /**
   * sha256 of script + conf, 16 hex digits: the configuration's identity in the prober's own records (maps,
   * state). The prober's rule line shows that of all its files, boot.sh included (script.ts).
   */
  hash: string;
}

/** sha256 of the files' concatenation, 16 hex digits (as `cat FILES | sha256sum | cut -c1-16` on the box). */
export function proberHash(...files: string[]): string {
  return createHash("sha256").update(files.join("")).digest("hex").slice(0, 16);
}

/** Seconds with millisecond precision, as sleep and ping -W take them. */
const secs = (ms: number) => (ms / 1000).toFixed(3);

export function renderProber(plan: Plan): ProberFiles {
  const tick = plan.links.reduce((m, l) => Math.min(m, l.check.intervalMs), Infinity);
  const lines = [
    `# lbgw prober config for owner ${plan.owner} (generated from the spec; do not edit)`,
    // The spec record (common/record.ts), for `pulumi import`; a comment to the prober.
    plan.record,
    `OWNER=${plan.owner}`,
    `TABLE=${tableName(plan.owner)}`,
    `LINKS="${plan.links.map((l) => l.index).join(" ")}"`,
    `TICK=${secs(tick)}`,
    `SLOTS="${plan.slots.map((s) => linkByName(plan, s).index).join(" ")}"`,
    `STICKY=${plan.sticky ? 1 : 0}`,
  ];
  for (const l of plan.links) {
    const k = l.index;
    lines.push(
      `L${k}_NAME=${l.name}`,
      `L${k}_IF=${l.interface}`,
      `L${k}_MARK=${hexMark(linkMark(l))}`,
      `L${k}_FWMARK=${linkMark(l)}`,
      `L${k}_WEIGHT=${l.weight}`,
      `L${k}_TIER=${l.tier}`,
      `L${k}_TARGETS="${l.check.targets.join(" ")}"`,
      `L${k}_TIMEOUT=${secs(l.check.timeoutMs)}`,
      `L${k}_EVERY=${Math.max(1, Math.round(l.check.intervalMs / tick))}`,
      `L${k}_FAIL=${l.check.failAfter}`,
      `L${k}_RECOVER=${l.check.recoverAfter}`,
      `L${k}_FALLBACK="${l.fallback.map((n) => linkByName(plan, n).index).join(" ")}"`,
    );
  }
  const conf = lines.join("\n") + "\n";
  return { script: PROBER_SCRIPT, conf, hash: proberHash(PROBER_SCRIPT, conf) };
}

/**
 * The prober. Modes: `run` (probe loop), `supervise` (restart `run` when it dies; the background mode),
 * `boot` (the systemd unit's ExecStartPre: restore the configuration once per boot), `render-maps`
 * (print the map rewrite for given link states).
 */
export const PROBER_SCRIPT = `#!/bin/sh
# lbgw health prober (installed by pulumi-loadbalanced-gateway; removed when the resource is deleted).
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/prober.conf"
RUN=\${LBGW_RUN:-${RUN_DIR}/$OWNER}
mkdir -p "$RUN"

log() {
  printf '%s %s\\n' "$(date '+%Y-%m-%dT%H:%M:%S%z')" "$*" >>"$RUN/log"
  logger -t "lbgw-$OWNER" -- "$*" 2>/dev/null || true
}

get() { eval "printf '%s' \\"\\$$1\\""; }
set_() { eval "$1=\\$2"; }

# One probe round for link k: 0 if any target answers through the link.
probe() {
  k=$1
  for t in $(get "L\${k}_TARGETS"); do
    if ping -n -q -c 1 -W "$(get "L\${k}_TIMEOUT")" -m "$(get "L\${k}_FWMARK")" -I "$(get "L\${k}_IF")" "$t" \\
      >/dev/null 2>&1; then
      return 0
    fi
  done
  return 1
}

# nft commands for the current state: slots over the live links of the best tier, live map, by weight.
render_maps() {
  up=""
  for k in $LINKS; do up="$up $k:$(get "L\${k}_UP")"; done
  spec=""
  for k in $LINKS; do
    spec="$spec $k:$(get "L\${k}_WEIGHT"):$(get "L\${k}_TIER"):$(get "L\${k}_MARK"):$(get "L\${k}_FALLBACK" | tr ' ' ',')"
  done
  awk -v up="$up" -v spec="$spec" -v slots="$SLOTS" -v table="$TABLE" -v rec="$RUN/maps.new" -v hash="\${HASH:-}" '
    BEGIN {
      # The record names the configuration that wrote it: only maps of that configuration are not drift.
      print "hash " hash > rec
      n = split(spec, S, " ")
      for (i = 1; i <= n; i++) {
        split(S[i], f, ":"); k = f[1]; ids[i] = k; w[k] = f[2]; tier[k] = f[3]; mark[k] = f[4]; fb[k] = f[5]
      }
      m = split(up, U, " ")
      for (i = 1; i <= m; i++) { split(U[i], f, ":"); alive[f[1]] = f[2] }
      N = split(slots, SL, " ")
      primary = -1
      for (i = 1; i <= n; i++) { k = ids[i]; if (primary < 0 || tier[k] < primary) primary = tier[k] }
      best = -1
      for (i = 1; i <= n; i++) { k = ids[i]; if (alive[k] && (best < 0 || tier[k] < best)) best = tier[k] }
      degraded = 0
      for (i = 1; i <= n; i++) { k = ids[i]; if (tier[k] == primary && !alive[k]) degraded = 1 }
      if (best < 0 || !degraded) {
        for (s = 1; s <= N; s++) out[s - 1] = SL[s]
      } else {
        # Hamilton apportionment of N slots over the live links of tier best, then smooth weighted round robin.
        W = 0; c = 0
        for (i = 1; i <= n; i++) { k = ids[i]; if (alive[k] && tier[k] == best) { c++; L[c] = k; W += w[k] } }
        given = 0
        for (j = 1; j <= c; j++) { q = N * w[L[j]] / W; cnt[j] = int(q); rem[j] = q - cnt[j]; given += cnt[j] }
        while (given < N) {
          bj = 1
          for (j = 2; j <= c; j++) if (rem[j] > rem[bj]) bj = j
          cnt[bj]++; rem[bj] = -1; given++
        }
        for (j = 1; j <= c; j++) cur[j] = 0
        for (s = 0; s < N; s++) {
          bj = 0
          for (j = 1; j <= c; j++) { cur[j] += cnt[j]; if (bj == 0 || cur[j] > cur[bj]) bj = j }
          cur[bj] -= N; out[s] = L[bj]
        }
      }
      printf "flush map inet %s slots\\n", table
      printf "add element inet %s slots { ", table
      for (s = 0; s < N; s++) {
        printf "%s%d : %s", (s ? ", " : ""), s, mark[out[s]]
        print "slots " s " : " mark[out[s]] > rec
      }
      printf " }\\n"
      printf "flush map inet %s live\\n", table
      printf "add element inet %s live { ", table
      for (i = 1; i <= n; i++) {
        k = ids[i]; to = k
        if (!alive[k]) {
          nf = split(fb[k], F, ",")
          for (j = 1; j <= nf; j++) if (F[j] != "" && alive[F[j]]) { to = F[j]; break }
        }
        printf "%s%s : %s", (i > 1 ? ", " : ""), mark[k], mark[to]
        print "live " mark[k] " : " mark[to] > rec
      }
      printf " }\\n"
    }'
}

apply_maps() {
  # The maps and their record change together under the maps lock, which a read holds while it looks at
  # both (so a read never sees new maps with the old record: that would be drift).
  if render_maps >"$RUN/maps.nft" && (
    if command -v flock >/dev/null 2>&1; then flock -w 5 8 || true; fi
    nft -f "$RUN/maps.nft" 2>>"$RUN/log" && mv -f "$RUN/maps.new" "$RUN/maps"
  ) 8>>"$RUN/maps.lock"; then
    :
  else
    log "could not rewrite the slot map (table $TABLE missing?)"
    return 1
  fi
  dead=""
  for k in $LINKS; do [ "$(get "L\${k}_UP")" = 1 ] || dead="$dead $(get "L\${k}_MARK")"; done
  [ -n "$dead" ] || return 0
  # A TCP connection whose SYN went out on a link that has since died stays in conntrack (SYN_SENT) with
  # that link's mark and NAT: the client's retransmission, or a new connection reusing its ports, would
  # follow it into the dead link. Forget those; established connections are left alone.
  if command -v conntrack >/dev/null 2>&1; then
    for m in $dead; do conntrack -D -p tcp -m "$m" --state SYN_SENT >/dev/null 2>&1 || true; done
  else
    log "conntrack (conntrack-tools) is missing: half-open connections to a dead link are not cleared"
  fi
  [ "$STICKY" = 1 ] || return 0
  nft list map inet "$TABLE" sticky 2>/dev/null | awk -v dead="$dead" -v table="$TABLE" '
    { text = text " " $0 }
    END {
      nd = split(dead, D, " "); for (i = 1; i <= nd; i++) isdead[D[i]] = 1
      s = index(text, "elements = {"); if (!s) exit
      body = substr(text, s + 12); e = index(body, "}"); body = substr(body, 1, e - 1)
      n = split(body, E, ",")
      for (i = 1; i <= n; i++) {
        m = split(E[i], f, " "); if (m < 2) continue
        if (isdead[f[m]]) printf "delete element inet %s sticky { %s }\\n", table, f[1]
      }
    }' >"$RUN/sticky.nft"
  # Entries may expire meanwhile: one transaction first, one element at a time if that fails.
  if [ -s "$RUN/sticky.nft" ] && ! nft -f "$RUN/sticky.nft" 2>/dev/null; then
    while IFS= read -r line; do printf '%s\\n' "$line" | nft -f - 2>/dev/null || true; done <"$RUN/sticky.nft"
  fi
}

save_state() {
  : >"$RUN/state.new"
  for k in $LINKS; do printf '%s %s\\n' "$(get "L\${k}_NAME")" "$(get "L\${k}_UP")" >>"$RUN/state.new"; done
  printf 'hash %s\\n' "$HASH" >>"$RUN/state.new"
  mv -f "$RUN/state.new" "$RUN/state"
}

# What \`lbgw status\` reads (apart from the maps' record), rewritten every round: per link "NAME UP SINCE
# LAST", SINCE in epoch seconds (the last change seen, else the prober's start), LAST the last round's
# result (1, 0, or - before the first).
save_status() {
  : >"$RUN/status.new"
  for k in $LINKS; do
    printf '%s %s %s %s\\n' "$(get "L\${k}_NAME")" "$(get "L\${k}_UP")" "$(get "L\${k}_SINCE")" \\
      "$(get "L\${k}_LAST")" >>"$RUN/status.new"
  done
  mv -f "$RUN/status.new" "$RUN/status"
}

run() {
  HASH=$(cat "$HERE/prober.sh" "$HERE/prober.conf" | sha256sum | cut -c1-16)
  for k in $LINKS; do set_ "L\${k}_UP" 1; set_ "L\${k}_BAD" 0; set_ "L\${k}_GOOD" 0; done
  now=$(date +%s)
  for k in $LINKS; do set_ "L\${k}_SINCE" "$now"; set_ "L\${k}_LAST" -; done
  # Keep the link states of a previous run of the same configuration (an apply restarts the prober).
  if [ -f "$RUN/state" ] && grep -qx "hash $HASH" "$RUN/state"; then
    for k in $LINKS; do
      v=$(awk -v n="$(get "L\${k}_NAME")" '$1 == n { print $2 }' "$RUN/state")
      [ "$v" = 0 ] && set_ "L\${k}_UP" 0
      s=$(awk -v n="$(get "L\${k}_NAME")" -v u="$(get "L\${k}_UP")" '$1 == n && $2 == u { print $3 }' \\
        "$RUN/status" 2>/dev/null)
      case "$s" in '' | *[!0-9]*) ;; *) set_ "L\${k}_SINCE" "$s" ;; esac
    done
  fi
  save_state
  save_status
  apply_maps || true
  trap 'apply_maps || true' HUP
  # Reap the children (probes, sleep) before leaving, so nothing is left to the init process.
  trap 'wait; exit 0' TERM INT
  log "started (config $HASH)"
  tick=0
  while :; do
    for k in $LINKS; do
      if [ $((tick % $(get "L\${k}_EVERY"))) -eq 0 ]; then
        ( if probe "$k"; then echo 1; else echo 0; fi ) >"$RUN/probe.$k" &
      else
        rm -f "$RUN/probe.$k"
      fi
    done
    wait
    changed=0
    for k in $LINKS; do
      [ -f "$RUN/probe.$k" ] || continue
      ok=$(cat "$RUN/probe.$k")
      set_ "L\${k}_LAST" "$ok"
      upk=$(get "L\${k}_UP")
      if [ "$ok" = 1 ]; then
        set_ "L\${k}_BAD" 0; set_ "L\${k}_GOOD" $(($(get "L\${k}_GOOD") + 1))
        if [ "$upk" = 0 ] && [ "$(get "L\${k}_GOOD")" -ge "$(get "L\${k}_RECOVER")" ]; then
          set_ "L\${k}_UP" 1; set_ "L\${k}_SINCE" "$(date +%s)"; changed=1; log "link $(get "L\${k}_NAME") up"
        fi
      else
        set_ "L\${k}_GOOD" 0; set_ "L\${k}_BAD" $(($(get "L\${k}_BAD") + 1))
        if [ "$upk" = 1 ] && [ "$(get "L\${k}_BAD")" -ge "$(get "L\${k}_FAIL")" ]; then
          set_ "L\${k}_UP" 0; set_ "L\${k}_SINCE" "$(date +%s)"; changed=1; log "link $(get "L\${k}_NAME") down"
        fi
      fi
    done
    # Maps first: the state file tells the world the change is in effect.
    if [ "$changed" = 1 ]; then
      apply_maps || true
      save_state
    fi
    save_status
    tick=$((tick + 1))
    sleep "$TICK" &
    wait $!
  done
}

supervise() {
  printf '%s\\n' "$$" >"$RUN/pid"
  child=""
  trap 'if [ -n "$child" ]; then kill "$child" 2>/dev/null; wait "$child"; fi; exit 0' TERM INT
  while :; do
    sh "$HERE/prober.sh" run &
    child=$!
    wait "$child" || true
    log "prober exited; restarting in 1s"
    sleep 1
  done
}

# boot: the unit's ExecStartPre. After a reboot the nft table, rules, routes and sysctls are gone: boot.sh
# (the configuration script without its prober step) puts them back before the prober starts. $RUN is on
# tmpfs: "configured" is there from the apply (or this) until the next reboot, so an apply's restart of the
# prober and the unit's own restarts leave the configuration (and the sticky map) alone.
boot() {
  [ ! -f "$RUN/configured" ] || return 0
  if sh "$HERE/boot.sh"; then
    : >"$RUN/configured"
    log "configuration restored after a reboot (boot.sh)"
  else
    log "boot.sh failed: the configuration is not in place"
    return 1
  fi
}

# render-maps K:UP...: print the map rewrite for the given link states (diagnostics and tests).
render_only() {
  for k in $LINKS; do set_ "L\${k}_UP" 1; done
  for a in "$@"; do set_ "L\${a%%:*}_UP" "\${a#*:}"; done
  render_maps
}

case "\${1:-run}" in
  run) run ;;
  supervise) supervise ;;
  boot) boot ;;
  render-maps) shift; render_only "$@" ;;
  *) echo "usage: prober.sh run|supervise|boot|render-maps K:0|1..." >&2; exit 64 ;;
esac
`;
