/**
 * One generic reconciler for every menu in menus.ts: compares the desired entries with what the device
 * holds and emits the fewest operations, in an order that never cuts connectivity.
 *
 * - Only owned entries (comment "lbgw:<owner>:...") are ever changed; foreign entries are read only to
 *   know positions in ordered menus, and keep their relative order.
 * - Entries are matched by key, so a changed rule is `set` in place (its .id and position survive).
 * - Ordered menus keep the owned entries as one block, anchored where the first owned entry already is
 *   (or at the menu's placement when there is none); entries already in the right relative order stay.
 * - Batches run in sequence; operations inside a batch are independent and may be pipelined.
 *   Forward (creates and changes): menus by phase, so tables and routes exist before the marks that use
 *   them. Removals: reverse phase, so the marks go before the routes they point at.
 */
import type { DesiredState } from "./render";
import { ownershipPrefix } from "./render";
import type { MenuSpec, RosVersion } from "./menus";
import { canonicalName, menusFor, normalise, wireName } from "./menus";

/** An entry as print returns it (wire property names, printed values). */
export type PrintedEntry = Record<string, string>;

/** A reference to an entry: an existing .id, or the key of an entry added earlier in the same apply. */
export type EntryRef = { id: string } | { key: string };

export type Op =
  | { op: "add"; menu: string; key: string; attrs: Record<string, string>; placeBefore?: EntryRef }
  | { op: "set"; menu: string; key: string; id: string; attrs: Record<string, string> }
  | { op: "unset"; menu: string; key: string; id: string; prop: string }
  | { op: "move"; menu: string; ids: string[]; destination?: string }
  | { op: "remove"; menu: string; ids: string[]; keys: string[] };

export interface Reconciliation {
  batches: Op[][];
  /** Number of write operations (what a no-op run must keep at zero). */
  writes: number;
}

export interface ReconcileInput {
  owner: string;
  version: RosVersion;
  desired: DesiredState;
  /** Printed entries per menu path: every entry for ordered menus, at least the owned ones for others. */
  actual: Record<string, PrintedEntry[]>;
}

export function reconcile(input: ReconcileInput): Reconciliation {
  const forward: Op[][] = [];
  const removals: Op[][] = [];
  for (const m of menusFor(input.version)) {
    const { changes, removes } = reconcileMenu(m, input);
    forward.push(...changes.filter((b) => b.length > 0));
    if (removes) removals.unshift([removes]);
  }
  const batches = [...forward, ...removals];
  return { batches, writes: batches.reduce((n, b) => n + b.length, 0) };
}

/** Entries of one menu, split into this resource's (by key) and everything else. */
export function ownedEntries(owner: string, entries: PrintedEntry[]): Map<string, PrintedEntry[]> {
  const prefix = ownershipPrefix(owner);
  const owned = new Map<string, PrintedEntry[]>();
  for (const e of entries) {
    const c = e.comment ?? "";
    if (!c.startsWith(prefix) || e.dynamic === "true") continue;
    const key = c.slice(prefix.length);
    owned.set(key, [...(owned.get(key) ?? []), e]);
  }
  return owned;
}

/** Managed properties of a printed entry, canonical names, comparison form. */
export function comparable(m: MenuSpec, version: RosVersion, printed: PrintedEntry): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [wire, value] of Object.entries(printed)) {
    const prop = canonicalName(m, version, wire);
    const kind = m.props[prop];
    if (kind === undefined) continue;
    const v = normalise(kind, value);
    if (m.unsetLooksLike[prop] === v) continue;
    out[prop] = v;
  }
  return out;
}

/** Desired attributes in comparison form (dropping values that print as "unset"). */
export function comparableDesired(m: MenuSpec, attrs: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [prop, value] of Object.entries(attrs)) {
    const kind = m.props[prop];
    if (kind === undefined) throw new Error(`${m.path}: property ${prop} is not described in menus.ts`);
    const v = normalise(kind, value);
    if (m.unsetLooksLike[prop] === v) continue;
    out[prop] = v;
  }
  return out;
}

function toWire(m: MenuSpec, version: RosVersion, attrs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(attrs).map(([k, v]) => [wireName(m, version, k), v]));
}

function reconcileMenu(m: MenuSpec, input: ReconcileInput): { changes: Op[][]; removes?: Op } {
  const { version } = input;
  const desired = input.desired[m.path] ?? [];
  const printed = input.actual[m.path] ?? [];
  const owned = ownedEntries(input.owner, printed);
  const wanted = new Set(desired.map((d) => d.key));

  // Extra copies of a key and keys no longer wanted go away.
  const stale: PrintedEntry[] = [];
  const kept = new Map<string, PrintedEntry>();
  for (const [key, entries] of owned) {
    if (wanted.has(key)) {
      kept.set(key, entries[0]);
      stale.push(...entries.slice(1));
    } else stale.push(...entries);
  }
  const removes: Op | undefined = stale.length
    ? {
        op: "remove",
        menu: m.path,
        ids: stale.map((e) => e[".id"]),
        keys: stale.map((e) => (e.comment ?? "").slice(ownershipPrefix(input.owner).length)),
      }
    : undefined;

  // In-place changes of kept entries.
  const edits: Op[] = [];
  for (const d of desired) {
    const e = kept.get(d.key);
    if (!e) continue;
    const want = comparableDesired(m, d.attrs);
    const have = comparable(m, version, e);
    const changed = Object.keys(want).filter((p) => have[p] !== want[p]);
    const extra = Object.keys(have).filter((p) => !(p in want));
    const id = e[".id"];
    if (changed.length)
      edits.push({
        op: "set",
        menu: m.path,
        key: d.key,
        id,
        attrs: toWire(m, version, Object.fromEntries(changed.map((p) => [p, d.attrs[p] ?? ""]))),
      });
    // RouterOS unsets one property per command.
    for (const p of extra)
      edits.push({ op: "unset", menu: m.path, key: d.key, id, prop: wireName(m, version, p) });
  }

  const newOnes = desired.filter((d) => !kept.has(d.key));
  if (!m.placement) {
    const adds: Op[] = newOnes.map((d) => ({
      op: "add",
      menu: m.path,
      key: d.key,
      attrs: toWire(m, version, d.attrs),
    }));
    return { changes: [[...edits, ...adds]], removes };
  }
  return { changes: [edits, ...orderedChanges(m, input, printed, kept, stale, desired)], removes };
}

/**
 * Moves and positioned adds for an ordered menu. The target layout is: foreign entries before the anchor,
 * then the owned block in desired order, then the remaining foreign entries.
 */
function orderedChanges(
  m: MenuSpec,
  input: ReconcileInput,
  printed: PrintedEntry[],
  kept: Map<string, PrintedEntry>,
  stale: PrintedEntry[],
  desired: DesiredState[string],
): Op[][] {
  const staleIds = new Set(stale.map((e) => e[".id"]));
  const keyOfId = new Map([...kept].map(([k, e]) => [e[".id"], k]));
  // The menu as it will be once stale entries are gone (they are removed last, but do not count).
  const current = printed.filter((e) => !staleIds.has(e[".id"])).map((e) => e[".id"]);
  const isOwned = (id: string) => keyOfId.has(id);
  const firstOwned = current.findIndex(isOwned);
  const foreign = current.filter((id) => !isOwned(id));
  const anchor =
    firstOwned >= 0
      ? current.slice(0, firstOwned).filter((id) => !isOwned(id)).length
      : m.placement === "top"
        ? 0
        : foreign.length;
  const block: Array<{ id?: string; key: string }> = desired.map((d) => ({
    id: kept.get(d.key)?.[".id"],
    key: d.key,
  }));
  const target = [
    ...foreign.slice(0, anchor).map((id) => ({ id, key: undefined as string | undefined })),
    ...block,
    ...foreign.slice(anchor).map((id) => ({ id, key: undefined as string | undefined })),
  ];

  // Which existing owned entries may stay: the largest set already in target order (foreign ones never move).
  const targetIndex = new Map(target.flatMap((t, i) => (t.id ? [[t.id, i] as const] : [])));
  const stay = keepInPlace(
    current.map((id) => ({ index: targetIndex.get(id) as number, fixed: !isOwned(id) })),
  );
  const stays = new Set(current.filter((_, i) => stay[i]));

  const batches: Op[][] = [];
  // Runs of moved entries go in front of the next entry that stays (or to the end).
  const existing = target.filter((t) => t.id !== undefined) as Array<{ id: string }>;
  for (let i = 0; i < existing.length;) {
    if (stays.has(existing[i].id)) {
      i++;
      continue;
    }
    const run: string[] = [];
    while (i < existing.length && !stays.has(existing[i].id)) run.push(existing[i++].id);
    const destination = existing[i]?.id;
    batches.push([{ op: "move", menu: m.path, ids: run, ...(destination ? { destination } : {}) }]);
  }
  // New entries, in order, each in front of the next existing entry of the target (or appended).
  target.forEach((t, i) => {
    if (t.id !== undefined) return;
    const next = target.slice(i + 1).find((x) => x.id !== undefined)?.id;
    const d = desired.find((x) => x.key === t.key) as DesiredState[string][number];
    batches.push([
      {
        op: "add",
        menu: m.path,
        key: d.key,
        attrs: toWire(m, input.version, d.attrs),
        ...(next ? { placeBefore: { id: next } } : {}),
      },
    ]);
  });
  return batches;
}

/**
 * Longest increasing subsequence over target indexes where fixed elements must be part of it (they are,
 * by construction, already increasing). Returns, per element, whether it stays. O(n²), n = menu size.
 */
function keepInPlace(seq: Array<{ index: number; fixed: boolean }>): boolean[] {
  const BIG = seq.length + 1;
  const weight = seq.map((s) => (s.fixed ? BIG : 1));
  const best = seq.map((_, i) => weight[i]);
  const prev = seq.map(() => -1);
  for (let i = 0; i < seq.length; i++)
    for (let j = 0; j < i; j++)
      if (seq[j].index < seq[i].index && best[j] + weight[i] > best[i]) {
        best[i] = best[j] + weight[i];
        prev[i] = j;
      }
  const out = seq.map(() => false);
  let i = best.indexOf(Math.max(...best, 0));
  for (; i >= 0; i = prev[i]) out[i] = true;
  return out;
}
