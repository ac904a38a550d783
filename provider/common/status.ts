/**
 * Live link status (`lbgw status`, the `linkStatus` output): what each uplink is doing now, read from the
 * device without changing it. Status is not configuration: the provider never compares it (index.ts).
 */

export interface LinkStatus {
  link: string;
  interface: string;
  /** Whether the link carries traffic now; null when the device does not say (no prober, no probe). */
  up: boolean | null;
  /** When it last changed (ISO 8601, device clock) where the device knows. */
  since: string | null;
  /** The last probe result: "ok", "failed", or null before the first probe / where there is none. */
  lastProbe: "ok" | "failed" | null;
  /** Connections bound to the link now (ct mark / connection mark), finished ones not counted. */
  connections: number | null;
  /** Users the sticky map or lists hold on this link. */
  stickyUsers: number | null;
  /** Where up/down came from: "prober", "netwatch", "route". */
  source: string;
}

export interface GatewayStatus {
  device: string;
  owner: string;
  /** When it was read (ISO 8601, device clock where known). */
  readAt: string;
  links: LinkStatus[];
  /** What could not be read, in words (e.g. the prober is not running). */
  notes: string[];
}

/** Epoch seconds → ISO 8601, or null for anything that is not a plausible time. */
export function isoFromEpoch(s: string | number | undefined): string | null {
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? new Date(n * 1000).toISOString() : null;
}

/** "3m12s ago" from two ISO times; "" when either is missing. */
export function ago(since: string | null, now: string): string {
  if (!since) return "";
  let s = Math.max(0, Math.round((Date.parse(now) - Date.parse(since)) / 1000));
  const parts: string[] = [];
  for (const [unit, n] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${unit}`);
      s %= n;
    }
  }
  if (parts.length < 2) parts.push(`${s}s`);
  return `${parts.join("")} ago`;
}

const cell = (v: unknown) => (v === null || v === undefined ? "-" : String(v));

/** The human table: one row per uplink. */
export function formatStatus(s: GatewayStatus): string {
  const head = ["link", "interface", "state", "since", "last probe", "connections", "sticky users"];
  const rows = s.links.map((l) => [
    l.link,
    l.interface,
    l.up === null ? "unknown" : l.up ? "up" : "DOWN",
    l.since ? `${l.since.replace(/\.\d{3}Z$/, "Z")} (${ago(l.since, s.readAt)})` : "-",
    cell(l.lastProbe),
    cell(l.connections),
    cell(l.stickyUsers),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [
    `${s.device} (owner ${s.owner}), read ${s.readAt.replace(/\.\d{3}Z$/, "Z")}`,
    line(head),
    ...rows.map(line),
    ...s.notes.map((n) => `note: ${n}`),
    "",
  ].join("\n");
}
