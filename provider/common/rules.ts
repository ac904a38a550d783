/**
 * The `rules` output: one entry per owned device object, keyed by the object's identity, so that the
 * engine's diff of a change (or of drift) names exactly the objects that differ. A list would be compared
 * by position, and one inserted rule would show every later one as changed.
 */
export type Rules = Record<string, string>;

/** Lines → map; `keyOf` names each line's object; a repeated identity (drift) gets " #2", " #3", ... */
export function keyedRules(lines: string[], keyOf: (line: string) => string): Rules {
  const out: Rules = {};
  for (const line of lines) {
    const base = keyOf(line);
    let key = base;
    for (let n = 2; key in out; n++) key = `${base} #${n}`;
    out[key] = line;
  }
  return out;
}
