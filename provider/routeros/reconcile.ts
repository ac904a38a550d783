/**
 * One generic reconciler for every menu in menus.ts: compares the desired entries with what the device
 * holds and emits the fewest operations, in an order that never cuts connectivity.
 *
 * - Only owned entries (comment "lbgw:<owner>:...") are ever changed; foreign entries are read only to
 *   know positions in ordered menus, and keep their relative order.
 * - Entries are matched by key, so a changed rule is `set` in place (its .id and position survive).
 * - Ordered menus keep the owned entries as one block, anchored where the first owned entry already is
 *   (or at the menu's placement when there is none). New entries are appended, then one `move` per run of
 *   misplaced entries puts them in place: a move lists its entries in order, so the result does not depend
 *   on the order in which the router executed pipelined adds. Entries already in order do not move.
 * - A property the entry should not have is cleared with the command its menu really has (menus.ts
 *   `clear`): `unset`, a `set` to the value that prints as unset, `enable`, or, where nothing clears it,
 *   removing the entry and adding it again (before the phase's adds: a list+address pair is unique).
 * - Batches run in sequence; the operations inside a batch are independent and are pipelined.
 *   Forward: per phase (menus.ts) the re-added entries' removals, then one batch of adds and changes; then the
 *   moves. Removals: phases backwards, so the marks go before the routes they point at, and the routes
 *   before their tables.
 */
import type { DesiredState } from "./render";
import { ownershipPrefix } from "./render";
import type { MenuSpec, RosVersion } from "./menus";
import { canonicalName, clearWith, menusFor, normalise, wireName } from "./menus";

/** An entry as print returns it (wire property names, printed values). */
export type PrintedEntry = Record<string, string>;

/** A reference to an entry: an existing .id, or the key of an entry added earlier in the same apply. */
export type EntryRef = { id: string } | { key: string };

export type Op =
  | { op: "add"; menu: string; key: string; attrs: Record<string, string> }
  | { op: "set"; menu: string; key: string; id: string; attrs: Record<string, string> }
  | { op: "unset"; menu: string; key: string; id: string; prop: string }
  | { op: "enable"; menu: string; key: string; id: string }
  | { op: "move"; menu: string; entries: EntryRef[]; destination?: string }
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
  const forward = new Map<number, Op[]>();
  const readds = new Map<number, Op[]>();
  const removals = new Map<number, Op[]>();
  const moves: Op[] = [];
  for (const m of menusFor(input.version)) {
    const r = reconcileMenu(m, input);
    forward.set(m.phase, [...(forward.get(m.phase) ?? []), ...r.changes]);
    if (r.readd) readds.set(m.phase, [...(readds.get(m.phase) ?? []), r.readd]);
    moves.push(...r.moves);
    if (r.removes) removals.set(m.phase, [...(removals.get(m.phase) ?? []), r.removes]);
  }
  const byPhase = (ops: Map<number, Op[]>, dir: 1 | -1) =>
    [...ops.entries()].sort(([a], [b]) => dir * (a - b)).map(([, batch]) => batch);
  const phases = [...new Set([...forward.keys(), ...readds.keys()])].sort((a, b) => a - b);
  const batches = [
    ...phases.flatMap((p) => [readds.get(p) ?? [], forward.get(p) ?? []]),
    moves,
    ...byPhase(removals, -1),
  ].filter((b) => b.length > 0);
  return { batches, writes: batches.reduce((n, b) => n + b.length, 0) };
}

/** Entries of one menu, split into this resource's (by key) and everything else. */
export function ownedEntries(owner: string, entries: PrintedEntry[]): Map<string, PrintedEntry[]> {
  const prefix = ownershipPrefix(owner);
  const owned = new Map<string, PrintedEntry[]>();
  for (const e of entries) {
    const c = e.comment ?? "";
    // A dynamic entry can carry our comment too: an owned address-list entry given a timeout by hand.
    if (!c.startsWith(prefix)) continue;
    // A key has no spaces; the claim (common/claim.ts) may follow one.
    const key = c.slice(prefix.length).split(" ")[0];
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

function reconcileMenu(
  m: MenuSpec,
  input: ReconcileInput,
): { changes: Op[]; moves: Op[]; removes?: Op; readd?: Op } {
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
  const removes = removal(m, input.owner, stale);

  // In-place changes of kept entries, and new entries (appended; ordered menus move them in place).
  const changes: Op[] = [];
  const readded: PrintedEntry[] = [];
  for (const d of desired) {
    const e = kept.get(d.key);
    const add: Op = { op: "add", menu: m.path, key: d.key, attrs: toWire(m, version, d.attrs) };
    if (!e) {
      changes.push(add);
      continue;
    }
    const want = comparableDesired(m, d.attrs);
    const have = comparable(m, version, e);
    const changed = Object.keys(want).filter((p) => have[p] !== want[p]);
    const extra = Object.keys(have).filter((p) => !(p in want));
    const how = new Map(extra.map((p) => [p, clearWith(m, version, p)]));
    if ([...how.values()].includes("re-add")) {
      readded.push(e);
      kept.delete(d.key);
      changes.push(add);
      continue;
    }
    const id = e[".id"];
    const attrs = Object.fromEntries(changed.map((p) => [p, d.attrs[p] ?? ""]));
    for (const [p, h] of how) if (typeof h === "object") attrs[p] = h.set;
    if (Object.keys(attrs).length)
      changes.push({ op: "set", menu: m.path, key: d.key, id, attrs: toWire(m, version, attrs) });
    if ([...how.values()].includes("enable")) changes.push({ op: "enable", menu: m.path, key: d.key, id });
    // RouterOS unsets one property per command.
    for (const [p, h] of how)
      if (h === "unset")
        changes.push({ op: "unset", menu: m.path, key: d.key, id, prop: wireName(m, version, p) });
  }
  const readd = removal(m, input.owner, readded);
  const moves = m.placement ? orderedMoves(m, printed, kept, [...stale, ...readded], desired) : [];
  return { changes, moves, removes, readd };
}

const keyOf = (owner: string, e: PrintedEntry): string =>
  (e.comment ?? "").slice(ownershipPrefix(owner).length).split(" ")[0];

/** One `remove` of these owned entries, or none. */
const removal = (m: MenuSpec, owner: string, entries: PrintedEntry[]): Op | undefined =>
  entries.length
    ? {
        op: "remove",
        menu: m.path,
        ids: entries.map((e) => e[".id"]),
        keys: entries.map((e) => keyOf(owner, e)),
      }
    : undefined;

/**
 * Moves for an ordered menu, as if every new entry had been appended at the end. The target layout is:
 * foreign entries before the anchor, the owned block in desired order, the remaining foreign entries.
 */
function orderedMoves(
  m: MenuSpec,
  printed: PrintedEntry[],
  kept: Map<string, PrintedEntry>,
  stale: PrintedEntry[],
  desired: DesiredState[string],
): Op[] {
  const staleIds = new Set(stale.map((e) => e[".id"]));
  const keyOfId = new Map([...kept].map(([k, e]) => [e[".id"], k]));
  const isOwned = (id: string) => keyOfId.has(id);
  // The menu once the adds are done; stale entries are removed last and do not count.
  const existing = printed.filter((e) => !staleIds.has(e[".id"])).map((e) => e[".id"]);
  const firstOwned = existing.findIndex(isOwned);
  const foreign = existing.filter((id) => !isOwned(id));
  const anchor =
    firstOwned >= 0
      ? existing.slice(0, firstOwned).filter((id) => !isOwned(id)).length
      : m.placement === "top"
        ? 0
        : foreign.length;
  type Slot = { ref: EntryRef; fixed: boolean; isNew: boolean };
  const slot = (id: string): Slot => ({ ref: { id }, fixed: !isOwned(id), isNew: false });
  const target: Slot[] = [
    ...foreign.slice(0, anchor).map(slot),
    ...desired.map((d) => {
      const id = kept.get(d.key)?.[".id"];
      return id ? slot(id) : { ref: { key: d.key }, fixed: false, isNew: true };
    }),
    ...foreign.slice(anchor).map(slot),
  ];
  const label = (r: EntryRef) => ("id" in r ? r.id : `+${r.key}`);
  const targetIndex = new Map(target.map((t, i) => [label(t.ref), i]));
  const current = [...existing.map((id) => slot(id)), ...target.filter((t) => t.isNew)];
  // Largest set already in target order; foreign entries always stay, new ones always move.
  const stay = keepInPlace(current.map((c) => ({ index: targetIndex.get(label(c.ref)) as number, ...c })));
  const stays = new Set(current.filter((_, i) => stay[i]).map((c) => label(c.ref)));

  const moves: Op[] = [];
  for (let i = 0; i < target.length;) {
    if (stays.has(label(target[i].ref))) {
      i++;
      continue;
    }
    const run: EntryRef[] = [];
    while (i < target.length && !stays.has(label(target[i].ref))) run.push(target[i++].ref);
    const destination = target[i] && "id" in target[i].ref ? (target[i].ref as { id: string }).id : undefined;
    moves.push({ op: "move", menu: m.path, entries: run, ...(destination ? { destination } : {}) });
  }
  return moves;
}

/**
 * Longest increasing subsequence over target indexes in which fixed elements must stay (they are, by
 * construction, already in order) and new ones may not. Returns, per element, whether it stays. O(n²).
 */
function keepInPlace(seq: Array<{ index: number; fixed: boolean; isNew: boolean }>): boolean[] {
  const BIG = seq.length + 1;
  const weight = seq.map((s) => (s.isNew ? -Infinity : s.fixed ? BIG : 1));
  const best = seq.map((_, i) => weight[i]);
  const prev = seq.map(() => -1);
  for (let i = 0; i < seq.length; i++)
    for (let j = 0; j < i; j++)
      if (seq[j].index < seq[i].index && best[j] + weight[i] > best[i]) {
        best[i] = best[j] + weight[i];
        prev[i] = j;
      }
  const out = seq.map(() => false);
  const top = Math.max(0, ...best);
  let i = top > 0 ? best.indexOf(top) : -1;
  for (; i >= 0; i = prev[i]) out[i] = true;
  return out;
}
