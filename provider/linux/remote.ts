/**
 * The fixed shell scripts the provider runs on the gateway (`sh -c <script> lbgw`), and the stdin framing
 * that carries their data. The script texts are constants: no spec value is ever part of a command line.
 * Data arrives on stdin as sections, each introduced by a line "@@lbgw <name>", the last one "@@lbgw end";
 * every script first splits stdin into files, stops if the end marker is missing (an input cut short by a
 * dropped connection changes nothing), then validates the owner tag ([A-Za-z0-9_]) before using it in a
 * path or table name.
 *
 * The prober's restart is a detached on-box job holding an on-box lock (see PROBER_JOB): a connection that
 * dies during it cannot leave the prober stopped or half replaced, and reads wait for it to finish.
 */
import { LIB_DIR, RUN_DIR } from "./ids";
import type { LinuxDesired } from "./render";
import { OWNED_TABLES } from "./render";

const MARKER = "@@lbgw ";

/** A quoted here-document whose delimiter cannot occur in the body. */
export function heredoc(command: string, body: string, tag: string): string {
  const delim = `LBGW_${tag}_EOF`;
  if (body.split("\n").includes(delim)) throw new Error(`here-document body contains ${delim}`);
  return `${command} <<'${delim}'\n${body.endsWith("\n") ? body : body + "\n"}${delim}`;
}

/**
 * Sections → stdin text, closed by the "end" section. Content lines never start with the marker (checked),
 * so framing is unambiguous.
 */
export function frame(sections: Record<string, string>): string {
  return Object.entries(sections)
    .map(([name, text]) => {
      if (!/^[a-z]+$/.test(name) || name === "end") throw new Error(`bad section name ${name}`);
      if (text.split("\n").some((l) => l.startsWith(MARKER)))
        throw new Error(`section ${name} contains a framing marker line`);
      return `${MARKER}${name}\n${text}${text === "" || text.endsWith("\n") ? "" : "\n"}`;
    })
    .concat(`${MARKER}end\n`)
    .join("");
}

/** Output sections of a script ("@@lbgw <name>" lines) → name → text. */
export function unframe(output: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (current !== undefined) sections.set(current, lines.join("\n"));
  };
  for (const line of output.split("\n")) {
    if (line.startsWith(MARKER)) {
      flush();
      current = line.slice(MARKER.length).trim();
      lines = [];
    } else if (current !== undefined) lines.push(line);
  }
  flush();
  return sections;
}

/** The sysctl script's "set" section: `d`'s sysctls, one "path value" line each. */
export const sysctlSet = (d: LinuxDesired): string => d.sysctls.map((s) => `${s.path} ${s.value}\n`).join("");

/** The stdin of SYSCTL_SCRIPT: set exactly `set` (recorded keys not in it are restored). */
export const sysctlInput = (owner: string, set: string): string => frame({ owner, set });

/**
 * The stdin of PROBER_INSTALL_SCRIPT that installs `d`'s prober with `boot` (script.ts's bootScript) as
 * boot.sh. boot.sh carries framed data itself, so each of its non-empty lines travels behind a "|" (never a
 * marker line), which the script strips.
 */
export const proberInstallInput = (d: LinuxDesired, boot: string): string =>
  frame({
    owner: d.owner,
    script: d.prober.script,
    conf: d.prober.conf,
    boot: boot.replace(/^(?=.)/gm, "|"),
  });

/**
 * The prober's systemd unit for `owner` with its files in `lib` (in DEFS: the shell's validated $owner
 * and $lib, expanded by an unquoted here-document, so the text holds no other $, ` or \). ExecStartPre
 * restores the configuration after a reboot (prober.sh boot: boot.sh, once per boot) before the prober runs.
 * A restore that keeps failing (an uplink missing at boot) stops after 5 starts in a minute: the unit is then
 * failed, as `systemctl status` shows, instead of rewriting rules every 2 s while an apply writes them too;
 * the next apply (which resets the failure) starts it again.
 */
export const proberUnit = (owner: string, lib = `${LIB_DIR}/${owner}`): string => `[Unit]
Description=lbgw health prober (${owner})
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
ExecStartPre=/bin/sh ${lib}/prober.sh boot
ExecStart=/bin/sh ${lib}/prober.sh run
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;

const HEAD = `set -eu
umask 022
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
`;

/**
 * Longest wait for the on-box lock, in seconds. Its holder is a prober job, bounded well below this: a stop
 * takes at most 5 s (TERM) + 2 s (KILL), a start at most 5 s.
 */
export const LOCK_WAIT_S = 20;

/** The owner's paths and the check of a path from the input; `$owner` is already validated. */
const PATHS = `lib=${LIB_DIR}/$owner
run=${RUN_DIR}/$owner
unit=lbgw-$owner-prober.service
valid_path() { case "$1" in ''|*..*|/*|*[!A-Za-z0-9_./@-]*) return 1 ;; esac; }
`;

/** PATHS, the on-box lock and the prober's process control. */
const DEFS = `${PATHS}
# The on-box lock ($run/lock on fd 9, flock(1) of util-linux or BusyBox; no locking where it is missing).
# A prober job holds it exclusively from before it stops the prober until the new one runs; reads take it
# shared. A job whose SSH session died runs to its end, and whatever comes next waits for it: nobody sees
# a restart half done, and two restarts never interleave.
lock_box() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>>"$run/lock"
  flock "$1" -w ${LOCK_WAIT_S} 9 || {
    echo "lbgw: another operation on this gateway held $run/lock for ${LOCK_WAIT_S} s" >&2
    exit 75
  }
}

# Live members of process group $1, one pid a line. A zombie (state Z) has exited: only its parent's
# wait() is missing, and an init that reaps lazily (PID 1 of a container) must not hold up a restart.
group_members() {
  cat /proc/[0-9]*/stat 2>/dev/null |
    awk -v g="$1" '{ p = $1; sub(/^.*\\) /, "") } $3 == g && $1 != "Z" && $1 != "X" { print p }'
}

# Whether process group $1 is this owner's prober (its leader, the supervisor, may be gone already).
prober_group() {
  for p in $(group_members "$1"); do
    if tr '\\000' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "lbgw/$owner/prober.sh"; then return 0; fi
  done
  return 1
}

stop_prober() {
  if [ -f "/etc/systemd/system/$unit" ]; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
    rm -f "/etc/systemd/system/$unit"
    systemctl daemon-reload >/dev/null 2>&1 || true
  fi
  if [ -f "$run/pid" ]; then
    pid=$(cat "$run/pid")
    if [ -n "$pid" ] && prober_group "$pid"; then
      kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      i=0
      while [ -n "$(group_members "$pid")" ] && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
      if [ -n "$(group_members "$pid")" ]; then
        kill -KILL "-$pid" 2>/dev/null || true
        i=0
        while [ -n "$(group_members "$pid")" ] && [ "$i" -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
      fi
    fi
    rm -f "$run/pid"
  fi
}

prober_running() {
  if [ -f "/etc/systemd/system/$unit" ] && systemctl is-active --quiet "$unit" 2>/dev/null; then return 0; fi
  [ -f "$run/pid" ] || return 1
  pid=$(cat "$run/pid")
  [ -n "$pid" ] && tr '\\000' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "lbgw/$owner/prober.sh"
}

start_prober() {
  # The configuration is in place for this boot: the unit's ExecStartPre leaves it alone ($run is tmpfs).
  : >"$run/configured"
  if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null 2>&1 &&
    [ "$(readlink /proc/1/ns/net 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ]; then
    # systemd is PID 1 in this network namespace: an enabled unit, so after a reboot the configuration
    # (boot.sh) and the prober come back.
    cat >"/etc/systemd/system/$unit" <<EOF
${proberUnit("$owner", "$lib")}EOF
    systemctl daemon-reload
    systemctl enable "$unit" >/dev/null 2>&1
    systemctl reset-failed "$unit" >/dev/null 2>&1 || true
    systemctl restart "$unit"
  else
    # No systemd here (a container or a namespace): a supervised background process in its own session,
    # without the lock's descriptor.
    rm -f "$run/pid"
    setsid sh "$lib/prober.sh" supervise </dev/null >/dev/null 2>&1 9>&- &
    i=0
    while [ ! -s "$run/pid" ] && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  fi
  prober_running || { echo "lbgw: the prober did not start (see $run/log)" >&2; exit 1; }
}

# The identity of the prober files $lib/{prober.sh,prober.conf,boot.sh}$1 ($1: "", .new or .prev; 16 hex
# digits, as in the rule lines), or "none". boot.sh may be missing (installed by an older version).
files="prober.sh prober.conf boot.sh"
files_hash() {
  if [ -f "$lib/prober.sh$1" ] && [ -f "$lib/prober.conf$1" ]; then
    { cat "$lib/prober.sh$1" "$lib/prober.conf$1"; cat "$lib/boot.sh$1" 2>/dev/null || true; } |
      sha256sum | cut -c1-16
  else
    echo none
  fi
}
`;

/**
 * Every script's start: splits stdin into files, refuses an input cut short (its "end" section is missing:
 * the connection dropped while sending it), validates the owner tag. PRELUDE adds DEFS; the sysctl script,
 * which boot.sh and the rendered script carry too, needs only PATHS.
 */
const INPUT = `${HEAD}in=$(mktemp -d "\${TMPDIR:-/tmp}/lbgw.XXXXXX")
trap 'rm -rf "$in"' EXIT
awk -v dir="$in" '/^@@lbgw [a-z]+$/ { f = dir "/" $2; printf "" > f; next } f != "" { print > f }'
[ -f "$in/end" ] || { echo "lbgw: the input ended early (connection dropped?): nothing was changed" >&2; exit 65; }
owner=$(cat "$in/owner" 2>/dev/null || true)
case "$owner" in ''|*[!A-Za-z0-9_]*) echo "lbgw: invalid owner tag" >&2; exit 64 ;; esac
`;
const PRELUDE = `${INPUT}${DEFS}`;

/** Prints everything `read` needs, one output section each. stdin: owner, sysctl (paths under /proc/sys). */
export const READ_SCRIPT = `${PRELUDE}
if [ -d "$run" ]; then
  lock_box -s
  # The prober rewrites its maps and their record under this lock: both are read at one moment.
  if command -v flock >/dev/null 2>&1; then exec 8>>"$run/maps.lock"; flock -s -w 5 8 || true; fi
fi
sec() { printf '@@lbgw %s\\n' "$1"; }
sec tables
nft list tables
sec nft
nft list table inet "lbgw_$owner" 2>/dev/null || true
sec rules
ip -j -4 rule show
for t in ${OWNED_TABLES.join(" ")}; do
  sec "route$t"
  # A table that does not exist yet fails after printing "[": print only complete answers.
  if r=$(ip -j -4 route show table "$t" 2>/dev/null); then printf '%s\\n' "$r"; fi
done
sec addrs
ip -j -4 addr show
sec links
ip -j link show
sec claim
cat "$lib/claim" 2>/dev/null || true
sec record
grep '^# lbgw-spec-v1 ' "$lib/prober.conf" 2>/dev/null || true
sec sysctl
# The wanted ones, and those recorded earlier (a removed uplink's, still to be restored).
{ cat "$in/sysctl"; awk '{ print $1 }' "$lib/sysctl.saved" 2>/dev/null || true; } | sort -u |
  while IFS= read -r p; do
    valid_path "$p" || continue
    if [ -r "/proc/sys/$p" ]; then printf '%s %s\\n' "$p" "$(cat "/proc/sys/$p")"; fi
  done
sec saved
cat "$lib/sysctl.saved" 2>/dev/null || true
sec prober
h=$(files_hash "")
if [ "$h" != none ]; then printf 'hash %s\\n' "$h"; fi
if prober_running; then echo "running yes"; else echo "running no"; fi
sec maps
cat "$run/maps" 2>/dev/null || true
sec state
cat "$run/state" 2>/dev/null || true
`;

/**
 * `lbgw status` and the `linkStatus` output: the prober's per-link status file (its state file as well,
 * for a prober that predates it), whether it runs, the conntrack entries per ct mark that are not finished
 * (TCP in TIME_WAIT or CLOSE carry nothing), and the sticky map. Read-only, no lock: a status read never
 * waits for an apply. stdin: owner, targets (the check targets, one a line).
 */
export const STATUS_SCRIPT = `${PRELUDE}
sec() { printf '@@lbgw %s\\n' "$1"; }
sec now
date +%s
sec status
cat "$run/status" 2>/dev/null || true
sec state
cat "$run/state" 2>/dev/null || true
sec prober
if prober_running; then echo "running yes"; else echo "running no"; fi
if nft list table inet "lbgw_$owner" >/dev/null 2>&1; then echo "table yes"; else echo "table no"; fi
sec ct
# One pass over the whole table, counted here: only "MARK COUNT" lines cross the connection. The prober's
# own pings (ICMP to a check target, in $in/targets) get their link's mark too: they are not traffic.
: >>"$in/targets"
count_marks() {
  awk -v t="$in/targets" 'FILENAME == t { probe[$1] = 1; next }
    { m = ""; d = ""; done = 0; icmp = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^mark=/) m = substr($i, 6)
        else if (d == "" && $i ~ /^dst=/) d = substr($i, 5)
        else if ($i == "TIME_WAIT" || $i == "CLOSE") done = 1
        else if ($i == "icmp") icmp = 1
      }
      if (m != "" && m != "0" && !done && !(icmp && (d in probe))) c[m]++ }
    END { for (m in c) print m, c[m] }' "$in/targets" -
}
if command -v conntrack >/dev/null 2>&1; then
  conntrack -L 2>/dev/null | count_marks
elif [ -r /proc/net/nf_conntrack ]; then
  count_marks </proc/net/nf_conntrack
else
  echo "unavailable"
fi
sec sticky
nft -j list map inet "lbgw_$owner" sticky 2>/dev/null || true
`;

/**
 * Sets sysctls, recording each one's previous value once (lib/sysctl.saved) so delete restores it; keys
 * recorded earlier but no longer wanted are restored now. stdin: owner, set ("path value" lines).
 */
export const SYSCTL_SCRIPT = `${INPUT}${PATHS}
mkdir -p "$lib"
saved=$lib/sysctl.saved
[ -f "$saved" ] || : >"$saved"
while read -r p v; do
  valid_path "$p" || { echo "lbgw: invalid sysctl $p" >&2; exit 64; }
  f=/proc/sys/$p
  [ -w "$f" ] || { echo "lbgw: $f does not exist (missing interface?)" >&2; exit 1; }
  if ! awk -v p="$p" '$1 == p { found = 1 } END { exit !found }' "$saved"; then
    printf '%s %s\\n' "$p" "$(cat "$f")" >>"$saved"
  fi
  [ "$(cat "$f")" = "$v" ] || printf '%s\\n' "$v" >"$f"
done <"$in/set"
# Which file a line is from by name: NR == FNR would take an empty set (a rollback to nothing) as the
# saved file, and forget every record without restoring it.
awk -v set="$in/set" 'FILENAME == set { want[$1] = 1; next } !($1 in want)' "$in/set" "$saved" >"$in/drop"
while read -r p v; do
  if valid_path "$p" && [ -w "/proc/sys/$p" ]; then printf '%s\\n' "$v" >"/proc/sys/$p"; fi
done <"$in/drop"
awk -v set="$in/set" 'FILENAME == set { want[$1] = 1; next } ($1 in want)' "$in/set" "$saved" >"$saved.new"
mv -f "$saved.new" "$saved"
`;

/**
 * The prober job, run detached from the SSH session (its own session without a terminal, so no hangup
 * reaches it; stdio on a file, so no broken pipe either) while holding the on-box lock: a dropped connection
 * cannot stop it halfway. (Signals are not ignored here: the prober it starts would inherit that.) Arguments:
 * owner, then `install` (the staged {prober.sh,prober.conf,boot.sh}.new replace the current files, which
 * are kept as .prev, and the prober restarts) or `revert HASH yes|no` (a rollback: the files of identity
 * HASH, current or .prev, or none at all, and the prober running or not; running means restarted, so it
 * writes its maps into the table the rollback restored).
 */
const PROBER_JOB = `${HEAD}owner=$1
case "$owner" in ''|*[!A-Za-z0-9_]*) echo "lbgw: invalid owner tag" >&2; exit 64 ;; esac
${DEFS}
case "$2" in
install)
  if [ "$(files_hash .new)" = none ] || [ ! -f "$lib/boot.sh.new" ]; then
    echo "lbgw: no staged prober files" >&2; exit 1
  fi
  stop_prober
  if [ "$(files_hash "")" != none ]; then
    for f in $files; do
      rm -f "$lib/$f.prev"
      if [ -f "$lib/$f" ]; then mv -f "$lib/$f" "$lib/$f.prev"; fi
    done
  fi
  for f in $files; do mv -f "$lib/$f.new" "$lib/$f"; done
  start_prober
  ;;
revert)
  want=$3
  stop_prober
  if [ "$want" = none ]; then
    for f in $files; do rm -f "$lib/$f"; done
  elif [ "$(files_hash "")" != "$want" ]; then
    [ "$(files_hash .prev)" = "$want" ] ||
      { echo "lbgw: the previous prober ($want) is no longer on the gateway" >&2; exit 1; }
    for f in $files; do
      f=$lib/$f
      if [ -f "$f" ]; then mv -f "$f" "$f.undo"; fi
      if [ -f "$f.prev" ]; then mv -f "$f.prev" "$f"; fi
      if [ -f "$f.undo" ]; then mv -f "$f.undo" "$f.prev"; fi
    done
  fi
  if [ "$want" != none ] && [ "$4" = yes ]; then start_prober; fi
  ;;
*) echo "lbgw: unknown prober job $2" >&2; exit 64 ;;
esac
`;

/**
 * Installs the prober files and (re)starts the prober, or (section "revert": "HASH yes|no") puts back the
 * prober read before a failed apply. The work is the detached prober job; this script stages its input,
 * starts it, waits for it and reports its result. stdin: owner, script, conf and boot (proberInstallInput),
 * or revert.
 */
export const PROBER_INSTALL_SCRIPT = `${PRELUDE}
mkdir -p "$lib" "$run"
lock_box -x
if [ -f "$in/revert" ]; then
  read -r want running <"$in/revert" || true
  case "$want" in none) ;; ''|*[!0-9a-f]*) echo "lbgw: bad revert $want" >&2; exit 64 ;; esac
  case "$running" in yes|no) ;; *) echo "lbgw: bad revert state $running" >&2; exit 64 ;; esac
  set -- revert "$want" "$running"
else
  cp "$in/script" "$lib/prober.sh.new"
  cp "$in/conf" "$lib/prober.conf.new"
  sed 's/^|//' "$in/boot" >"$lib/boot.sh.new"
  chmod 0755 "$lib/prober.sh.new" "$lib/boot.sh.new"
  chmod 0644 "$lib/prober.conf.new"
  set -- install
fi
job=$(${heredoc("cat", PROBER_JOB, "JOB")}
)
setsid sh -c "$job" lbgw-prober-job "$owner" "$@" </dev/null >"$run/job.log" 2>&1 &
status=0
wait "$!" || status=$?
if [ "$status" -ne 0 ]; then cat "$run/job.log" >&2; fi
exit "$status"
`;

/** Writes (or, given an empty claim, removes) the owner's claim (common/claim.ts). stdin: owner, claim. */
export const CLAIM_SCRIPT = `${INPUT}${PATHS}
if [ -s "$in/claim" ]; then
  mkdir -p "$lib"
  cp "$in/claim" "$lib/claim.new"
  mv -f "$lib/claim.new" "$lib/claim"
else
  rm -f "$lib/claim"
fi
`;

/** Deletes what the resource owns besides ip rules and routes. stdin: owner, ipbatch (owned rules/routes). */
export const TEARDOWN_SCRIPT = `${PRELUDE}
if [ -d "$run" ]; then lock_box -x; fi
stop_prober
if nft list table inet "lbgw_$owner" >/dev/null 2>&1; then nft delete table inet "lbgw_$owner"; fi
if [ -s "$in/ipbatch" ]; then ip -4 -batch "$in/ipbatch"; fi
if [ -f "$lib/sysctl.saved" ]; then
  while read -r p v; do
    if valid_path "$p" && [ -w "/proc/sys/$p" ]; then printf '%s\\n' "$v" >"/proc/sys/$p"; fi
  done <"$lib/sysctl.saved"
fi
rm -rf "$lib" "$run"
rmdir ${LIB_DIR} ${RUN_DIR} 2>/dev/null || true
`;

/** The argv of a fixed script (the trailing word is $0 for error messages). */
export const script = (text: string): string[] => ["sh", "-c", text, "lbgw"];
