/**
 * The fixed shell scripts the provider runs on the gateway (`sh -c <script> lbgw`), and the stdin framing
 * that carries their data. The script texts are constants: no spec value is ever part of a command line.
 * Data arrives on stdin as sections, each introduced by a line "@@lbgw <name>"; every script first splits
 * stdin into files, then validates the owner tag ([A-Za-z0-9_]) before using it in a path or table name.
 */
import { LIB_DIR, RUN_DIR } from "./prober";
import { OWNED_TABLES } from "./render";

const MARKER = "@@lbgw ";

/** Sections → stdin text. Content lines never start with the marker (checked), so framing is unambiguous. */
export function frame(sections: Record<string, string>): string {
  return Object.entries(sections)
    .map(([name, text]) => {
      if (!/^[a-z]+$/.test(name)) throw new Error(`bad section name ${name}`);
      if (text.split("\n").some((l) => l.startsWith(MARKER)))
        throw new Error(`section ${name} contains a framing marker line`);
      return `${MARKER}${name}\n${text}${text === "" || text.endsWith("\n") ? "" : "\n"}`;
    })
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

const PRELUDE = `set -eu
umask 022
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
in=$(mktemp -d "\${TMPDIR:-/tmp}/lbgw.XXXXXX")
trap 'rm -rf "$in"' EXIT
awk -v dir="$in" '/^@@lbgw [a-z]+$/ { f = dir "/" $2; printf "" > f; next } f != "" { print > f }'
owner=$(cat "$in/owner" 2>/dev/null || true)
case "$owner" in ''|*[!A-Za-z0-9_]*) echo "lbgw: invalid owner tag" >&2; exit 64 ;; esac
lib=${LIB_DIR}/$owner
run=${RUN_DIR}/$owner
unit=lbgw-$owner-prober.service
valid_path() { case "$1" in ''|*..*|/*|*[!A-Za-z0-9_./@-]*) return 1 ;; esac; }

stop_prober() {
  if [ -f "/etc/systemd/system/$unit" ]; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
    rm -f "/etc/systemd/system/$unit"
    systemctl daemon-reload >/dev/null 2>&1 || true
  fi
  if [ -f "$run/pid" ]; then
    pid=$(cat "$run/pid")
    if [ -n "$pid" ] && tr '\\000' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "lbgw/$owner/prober.sh"; then
      kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      i=0
      while kill -0 "-$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
      kill -KILL "-$pid" 2>/dev/null || true
      while kill -0 "-$pid" 2>/dev/null; do sleep 0.05; done
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
`;

/** Prints everything `read` needs, one output section each. stdin: owner, sysctl (paths under /proc/sys). */
export const READ_SCRIPT = `${PRELUDE}
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
sec sysctl
while IFS= read -r p; do
  valid_path "$p" || continue
  if [ -r "/proc/sys/$p" ]; then printf '%s %s\\n' "$p" "$(cat "/proc/sys/$p")"; fi
done <"$in/sysctl"
sec saved
cat "$lib/sysctl.saved" 2>/dev/null || true
sec prober
if [ -f "$lib/prober.sh" ] && [ -f "$lib/prober.conf" ]; then
  printf 'hash %s\\n' "$(cat "$lib/prober.sh" "$lib/prober.conf" | sha256sum | cut -c1-16)"
fi
if prober_running; then echo "running yes"; else echo "running no"; fi
sec maps
cat "$run/maps" 2>/dev/null || true
sec state
cat "$run/state" 2>/dev/null || true
`;

/**
 * Sets sysctls, recording each one's previous value once (lib/sysctl.saved) so delete restores it; keys
 * recorded earlier but no longer wanted are restored now. stdin: owner, set ("path value" lines).
 */
export const SYSCTL_SCRIPT = `${PRELUDE}
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
awk 'NR == FNR { want[$1] = 1; next } !($1 in want)' "$in/set" "$saved" >"$in/drop"
while read -r p v; do
  if valid_path "$p" && [ -w "/proc/sys/$p" ]; then printf '%s\\n' "$v" >"/proc/sys/$p"; fi
done <"$in/drop"
awk 'NR == FNR { want[$1] = 1; next } ($1 in want)' "$in/set" "$saved" >"$saved.new"
mv -f "$saved.new" "$saved"
`;

/** Installs the prober files and (re)starts it. stdin: owner, script, conf. */
export const PROBER_INSTALL_SCRIPT = `${PRELUDE}
mkdir -p "$lib" "$run"
cp "$in/script" "$lib/prober.sh.new"
cp "$in/conf" "$lib/prober.conf.new"
chmod 0755 "$lib/prober.sh.new"
chmod 0644 "$lib/prober.conf.new"
stop_prober
mv -f "$lib/prober.sh.new" "$lib/prober.sh"
mv -f "$lib/prober.conf.new" "$lib/prober.conf"
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null 2>&1 &&
  [ "$(readlink /proc/1/ns/net 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ]; then
  # systemd is PID 1 in this network namespace: a unit, so the prober survives reboots.
  cat >"/etc/systemd/system/$unit" <<EOF
[Unit]
Description=lbgw health prober ($owner)
After=network-online.target

[Service]
ExecStart=/bin/sh $lib/prober.sh run
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
EOF
  systemctl daemon-reload
  systemctl enable "$unit" >/dev/null 2>&1
  systemctl restart "$unit"
else
  # No systemd here (a container or a namespace): a supervised background process in its own session.
  rm -f "$run/pid"
  setsid sh "$lib/prober.sh" supervise </dev/null >/dev/null 2>&1 &
  i=0
  while [ ! -s "$run/pid" ] && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  prober_running || { echo "lbgw: the prober did not start (see $run/log)" >&2; exit 1; }
fi
`;

/** Deletes what the resource owns besides ip rules and routes. stdin: owner, ipbatch (owned rules/routes). */
export const TEARDOWN_SCRIPT = `${PRELUDE}
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
