export interface RosVersion {
  major: number;
  minor: number;
  patch: number;
  /** As given, e.g. "7.18" or "6.49.10". */
  text: string;
}

export function parseVersion(text: string): RosVersion {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (!m) throw new Error(`unparseable RouterOS version "${text}"`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: text.trim() };
}

export function compareVersions(a: RosVersion, b: RosVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** True when `v` is at least `min` (a "major.minor[.patch]" string). */
export function atLeast(v: RosVersion, min: string): boolean {
  return compareVersions(v, parseVersion(min)) >= 0;
}

/** Availability window: `since` inclusive, `until` exclusive. */
export function inWindow(v: RosVersion, window: { since?: string; until?: string }): boolean {
  if (window.since && !atLeast(v, window.since)) return false;
  if (window.until && atLeast(v, window.until)) return false;
  return true;
}
