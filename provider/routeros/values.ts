/**
 * RouterOS value formats. Durations are printed in several forms ("1d", "1d 00:00:00", "00:00:10",
 * "1w2d3h4m5s", "10s", "500ms"); a generic duration library does not know the clock forms, so this small
 * parser normalises all of them to one form before comparing, or updates would never converge.
 */

const UNIT_SECONDS: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

/** Seconds in a RouterOS duration, or undefined when it is not one (e.g. "none-dynamic"). */
export function rosDurationSeconds(value: string): number | undefined {
  const v = value.trim();
  // "1d 00:00:00", "00:00:10", "1w2d 03:04:05"
  const clock = /^(?:(\d+w)?(\d+d)?\s*)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(v);
  if (clock) {
    const [, w, d, hh, mm, ss, frac] = clock;
    return (
      (w ? parseInt(w) * 604800 : 0) +
      (d ? parseInt(d) * 86400 : 0) +
      Number(hh) * 3600 +
      Number(mm) * 60 +
      Number(ss) +
      (frac ? Number(`0.${frac}`) : 0)
    );
  }
  // "0.3s": the comparison form of a sub-second duration (normaliseDuration)
  if (/^\d+\.\d+s$/.test(v)) return Number(v.slice(0, -1));
  // "1d2h3m4s", "10s", "1d", "500ms"
  if (/^(\d+(ms|w|d|h|m|s))+$/.test(v)) {
    let total = 0;
    for (const [, n, unit] of v.matchAll(/(\d+)(ms|w|d|h|m|s)/g))
      total += unit === "ms" ? Number(n) / 1000 : Number(n) * UNIT_SECONDS[unit];
    return Math.round(total * 1000) / 1000;
  }
  return undefined;
}

/** Comparison form of a duration: whole seconds as "<n>s", other words unchanged. */
export function normaliseDuration(value: string): string {
  const s = rosDurationSeconds(value);
  return s === undefined ? value : `${s}s`;
}

/** Milliseconds → the compact input form RouterOS accepts ("1d", "1h30m", "10s", "1s500ms", "300ms"). */
export function formatRosDuration(ms: number): string {
  const total = Math.round(ms);
  // Netwatch probe timing is sub-second (check.interval "300ms"): keep the milliseconds.
  const millis = total % 1000;
  let seconds = (total - millis) / 1000;
  if (seconds === 0 && millis === 0) return "0s";
  let out = "";
  for (const unit of ["w", "d", "h", "m", "s"]) {
    const n = Math.floor(seconds / UNIT_SECONDS[unit]);
    if (n > 0) out += `${n}${unit}`;
    seconds -= n * UNIT_SECONDS[unit];
  }
  return millis > 0 ? `${out}${millis}ms` : out;
}
