/**
 * Generic command engine over the menu tables (menus.ts): path resolution, validation, the commands
 * (print/getall/add/set/remove/enable/disable/unset/move), queries and the state they act on.
 * Every add/set/... is atomic: it is fully validated before anything changes.
 */
import {
  Command,
  EXTRA_DIRECTORIES,
  INTERNAL_PREFIX,
  MENUS,
  MenuContext,
  MenuSpec,
  PropSpec,
  RowView,
  Values,
} from "./menus";
import { Msg } from "./messages";
import { evaluateQuery } from "./query";
import { FLAG_OFF, isError } from "./values";
import { RosVersion, inWindow } from "./version";

export interface Trap {
  message: string;
  category?: number;
}

/** A refusal: one or more `!trap` sentences (a missing directory gives two). */
export class RosTrapError extends Error {
  override name = "RosTrapError";
  constructor(readonly traps: Trap[]) {
    super(traps.map((t) => t.message).join(", "));
  }
}

const trap = (message: string): RosTrapError => new RosTrapError([{ message }]);

export interface CommandResult {
  /** One item per `!re`. */
  re: Array<Record<string, string>>;
  /** Attributes of `!done` (`ret` for add and count-only). */
  done: Record<string, string>;
  /** The command's kind, for counters: "read", "write" or "other". */
  kind: "read" | "write" | "other";
}

export interface EngineOptions {
  version: RosVersion;
  interfaces: ReadonlyArray<{ name: string; type?: string }>;
  identity: string;
  boardName: string;
  architecture: string;
  now: () => number;
}

interface Row {
  id: number;
  values: Record<string, string>;
  dynamic: boolean;
  createdAt: number;
  /** Absolute expiry time (ms) for menus with `expiry`. */
  expiresAt?: number;
  /** For generated rows: "<source menu>#<source id>". */
  source?: string;
}

interface MenuState {
  spec: MenuSpec;
  rows: Row[];
  nextId: number;
}

const WRITE_COMMANDS: ReadonlySet<string> = new Set([
  "add",
  "set",
  "remove",
  "move",
  "unset",
  "enable",
  "disable",
]);
/** Print arguments accepted (and ignored unless noted). */
const PRINT_ARGS = [".proplist", "count-only", "detail", "stats", "without-paging", "terse", "show-ids"];

export const formatId = (id: number): string => `*${id.toString(16).toUpperCase()}`;

export class RosEngine {
  readonly version: RosVersion;
  private readonly menus = new Map<string, MenuState>();
  private readonly directories = new Set<string>();
  private readonly ctx: MenuContext;

  constructor(private readonly opts: EngineOptions) {
    this.version = opts.version;
    const startedAt = opts.now();
    this.ctx = {
      version: opts.version,
      now: opts.now,
      rows: (menu) => this.rowsOf(menu),
      interfaces: () => this.names("/interface"),
      interfaceLists: () => this.names("/interface/list"),
      routingTables: () => this.names("/routing/table"),
      system: {
        identity: opts.identity,
        boardName: opts.boardName,
        startedAt,
        architecture: opts.architecture,
      },
    };
    for (const dir of EXTRA_DIRECTORIES) this.directories.add(dir);
    for (const spec of MENUS) {
      if (!inWindow(this.version, spec)) continue;
      this.menus.set(spec.path, { spec, rows: [], nextId: 1 });
      const parts = spec.path.split("/");
      for (let i = 2; i <= parts.length; i++) this.directories.add(parts.slice(0, i).join("/"));
    }
    for (const state of this.menus.values()) {
      for (const values of state.spec.builtin?.({ version: this.version }) ?? []) {
        state.rows.push({ id: state.nextId++, values: { ...values }, dynamic: true, createdAt: startedAt });
      }
    }
    const ifaces = this.menu("/interface");
    for (const iface of opts.interfaces) {
      const values: Record<string, string> = { name: iface.name };
      if (iface.type) values.type = iface.type;
      ifaces.rows.push({ id: ifaces.nextId++, values, dynamic: false, createdAt: startedAt });
    }
    const identity = this.menu("/system/identity");
    identity.rows.push({ id: identity.nextId++, values: {}, dynamic: false, createdAt: startedAt });
    const resource = this.menu("/system/resource");
    resource.rows.push({ id: resource.nextId++, values: {}, dynamic: false, createdAt: startedAt });
  }

  /**
   * Rows a menu prints besides its stored ones, made at print time (already in printed form, `.id`
   * included): the data plane's connections, a data plane's dynamic address-list entries. Only `print`
   * shows them; `entries` (the data plane's own view of the configuration) does not.
   */
  private readonly live = new Map<string, () => Array<Record<string, string>>>();

  setLiveRows(menu: string, rows: (() => Array<Record<string, string>>) | undefined): void {
    this.menu(menu);
    if (rows) this.live.set(menu, rows);
    else this.live.delete(menu);
  }

  /** True when `path` names a menu of this version. */
  hasMenu(path: string): boolean {
    return this.menus.has(path);
  }

  /** Run one API command (everything but /login, /cancel, /quit). Throws RosTrapError on refusal. */
  execute(path: string, attrs: Readonly<Record<string, string>>, queries: readonly string[]): CommandResult {
    this.expire();
    const { state, command } = this.resolve(path);
    const kind =
      command === "print" || command === "getall" ? "read" : WRITE_COMMANDS.has(command) ? "write" : "other";
    const result = (done: Record<string, string> = {}, re: CommandResult["re"] = []): CommandResult => ({
      re,
      done,
      kind,
    });
    switch (command) {
      case "print":
      case "getall":
        return this.print(state, attrs, queries, kind);
      case "add":
        return result({ ret: formatId(this.add(state, attrs)) });
      case "set":
        this.set(state, attrs);
        return result();
      case "remove":
        this.remove(state, attrs);
        return result();
      case "enable":
      case "disable":
        this.setDisabled(state, attrs, command === "disable");
        return result();
      case "unset":
        this.unset(state, attrs);
        return result();
      case "move":
        this.move(state, attrs);
        return result();
    }
  }

  /** Items of a menu as `print` returns them. */
  entries(menu: string): Array<Record<string, string>> {
    this.expire();
    const state = this.menus.get(menu);
    if (!state) throw new Error(`no menu ${menu} in RouterOS ${this.version.text}`);
    return state.rows.map((row) => this.printRow(state, row));
  }

  // --- out-of-band edits (an operator in Winbox): same validation, no log, no counters -------------------

  editAdd(menu: string, attrs: Readonly<Record<string, string>>): string {
    return formatId(this.add(this.menu(menu), attrs));
  }

  editSet(menu: string, id: string, attrs: Readonly<Record<string, string>>): void {
    this.set(this.menu(menu), { ...attrs, ".id": id });
  }

  editRemove(menu: string, id: string): void {
    this.remove(this.menu(menu), { ".id": id });
  }

  /** Set what a probe would have found: netwatch `status` (and `since` = now). */
  setNetwatchStatus(id: string, status: "up" | "down" | "unknown"): void {
    const state = this.menu("/tool/netwatch");
    const [row] = this.rowsById(state, id);
    row.values[`${INTERNAL_PREFIX}status`] = status;
    row.values[`${INTERNAL_PREFIX}since`] = String(this.opts.now());
  }

  // --- resolution --------------------------------------------------------------------------------------

  private resolve(path: string): { state: MenuState; command: Command } {
    const segments = path.split("/");
    if (segments[0] !== "" || segments.length < 2) throw trap(Msg.noSuchCommand);
    // Walk the directories: a missing one gives the pair of traps seen on real routers (messages.ts [D]);
    // a command followed by more path gives "no such command" ([E]).
    for (let i = 2; i < segments.length; i++) {
      const prefix = segments.slice(0, i).join("/");
      if (this.directories.has(prefix)) continue;
      const parent = this.menus.get(segments.slice(0, i - 1).join("/"));
      if (parent && this.hasCommand(parent.spec, segments[i - 1])) {
        throw trap(Msg.noSuchCommand);
      }
      throw new RosTrapError([{ message: Msg.noSuchDir(segments[i - 1]) }, { message: Msg.noSuchPrefix }]);
    }
    const state = this.menus.get(segments.slice(0, -1).join("/"));
    const command = segments[segments.length - 1];
    if (!state || !this.hasCommand(state.spec, command)) throw trap(Msg.noSuchCommand);
    return { state, command: command as Command };
  }

  private hasCommand(spec: MenuSpec, command: string): boolean {
    if (!(spec.commands as readonly string[]).includes(command)) return false;
    return inWindow(this.version, spec.commandWindows?.[command as Command] ?? {});
  }

  private menu(path: string): MenuState {
    const state = this.menus.get(path);
    if (!state) throw new Error(`menu ${path} is not available in ${this.version.text}`);
    return state;
  }

  private rowsOf(menu: string): readonly RowView[] {
    return this.menus.get(menu)?.rows ?? [];
  }

  private names(menu: string): ReadonlySet<string> {
    return new Set(this.rowsOf(menu).map((r) => r.values.name));
  }

  private prop(state: MenuState, name: string): PropSpec | undefined {
    const spec = Object.prototype.hasOwnProperty.call(state.spec.props, name)
      ? state.spec.props[name]
      : undefined;
    return spec && inWindow(this.version, spec) ? spec : undefined;
  }

  // --- validation ------------------------------------------------------------------------------------

  /** Parse input attributes into stored values; `extra` names are command arguments, not properties. */
  private parseAttrs(
    state: MenuState,
    attrs: Readonly<Record<string, string>>,
    extra: readonly string[],
  ): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, raw] of Object.entries(attrs)) {
      if (extra.includes(key)) continue;
      const spec = this.prop(state, key);
      if (!spec || spec.readOnly) throw trap(Msg.unknownParameter(this.version, key));
      const parsed = spec.type.parse(raw, key, this.ctx);
      if (isError(parsed)) throw trap(parsed.error);
      out[key] = parsed.value;
    }
    return out;
  }

  /** Whole-entry checks: required properties, cross-property rules, duplicates. */
  private checkEntry(state: MenuState, values: Values, self?: Row): void {
    const missing = Object.entries(state.spec.props)
      .filter(([key, spec]) => spec.required && inWindow(this.version, spec) && values[key] === undefined)
      .map(([key]) => key);
    if (missing.length > 0) throw trap(Msg.missing(missing));
    for (const rule of state.spec.rules ?? []) {
      const message = rule(values, this.ctx);
      if (message) throw trap(message);
    }
    for (const { keys, message } of state.spec.unique ?? []) {
      const clash = state.rows.some(
        (row) => row !== self && keys.every((k) => values[k] !== undefined && row.values[k] === values[k]),
      );
      if (clash) throw trap(message);
    }
  }

  private parseId(state: MenuState, raw: string): Row {
    let row: Row | undefined;
    if (/^\*[0-9a-fA-F]+$/.test(raw)) {
      const id = parseInt(raw.slice(1), 16);
      row = state.rows.find((r) => r.id === id);
    } else if (this.prop(state, "name") && !/^\*/.test(raw) && !/^\d+$/.test(raw)) {
      // Menus with names accept the name instead of the id (`/interface/set =numbers=ether1`).
      row = state.rows.find((r) => r.values.name === raw);
    } else {
      throw trap(Msg.badId);
    }
    if (!row) throw trap(Msg.noSuchItem);
    return row;
  }

  private rowsById(state: MenuState, raw: string | undefined, allowDynamic = false): Row[] {
    if (raw === undefined || raw === "") throw trap(Msg.missing(["numbers"]));
    const rows = raw.split(",").map((part) => this.parseId(state, part));
    if (!allowDynamic && rows.some((r) => r.dynamic)) throw trap(Msg.dynamicItem);
    return rows;
  }

  private targets(state: MenuState, attrs: Readonly<Record<string, string>>): Row[] {
    if (state.spec.kind === "singleton") return state.rows;
    return this.rowsById(state, attrs[".id"] ?? attrs.numbers);
  }

  // --- commands ----------------------------------------------------------------------------------------

  private print(
    state: MenuState,
    attrs: Readonly<Record<string, string>>,
    queries: readonly string[],
    kind: CommandResult["kind"],
  ): CommandResult {
    for (const key of Object.keys(attrs)) {
      if (!PRINT_ARGS.includes(key)) throw trap(Msg.unknownParameter(this.version, key));
    }
    let items = state.rows.map((row) => this.printRow(state, row));
    const live = this.live.get(state.spec.path);
    if (live) items = [...items, ...live()];
    if (queries.length > 0) {
      const normalise = (prop: string, raw: string): string => {
        const spec = this.prop(state, prop);
        if (!spec) return raw;
        const parsed = spec.type.parse(raw, prop, this.ctx);
        if (isError(parsed)) return raw;
        return spec.type.print ? spec.type.print(parsed.value, this.ctx) : parsed.value;
      };
      items = items.filter((item) => evaluateQuery(queries, item, normalise));
    }
    if (attrs["count-only"] !== undefined) return { re: [], done: { ret: String(items.length) }, kind };
    const proplist = attrs[".proplist"];
    if (proplist !== undefined) {
      const keep = proplist.split(",");
      items = items.map((item) => Object.fromEntries(keep.filter((k) => k in item).map((k) => [k, item[k]])));
    }
    return { re: items, done: {}, kind };
  }

  private printRow(state: MenuState, row: Row): Record<string, string> {
    const out: Record<string, string> = {};
    if (state.spec.kind === "list") out[".id"] = formatId(row.id);
    const derived = state.spec.derive?.(row, this.ctx) ?? {};
    for (const [key, spec] of Object.entries(state.spec.props)) {
      if (!inWindow(this.version, spec)) continue;
      const fromDerive = derived[key];
      if (fromDerive !== undefined) {
        out[key] = fromDerive;
        continue;
      }
      let stored: string | undefined = row.values[key];
      if (key === state.spec.expiry && stored !== undefined && row.expiresAt !== undefined) {
        // Time left, in whole seconds as the router shows it (rounded up: a fresh entry shows its full timeout).
        stored = String(Math.max(0, Math.ceil((row.expiresAt - this.opts.now()) / 1000) * 1000));
      }
      if (stored === undefined) {
        stored = typeof spec.default === "function" ? spec.default(row.values, this.ctx) : spec.default;
      }
      if (stored === undefined) continue;
      out[key] = spec.type.print ? spec.type.print(stored, this.ctx) : stored;
    }
    return out;
  }

  private add(state: MenuState, attrs: Readonly<Record<string, string>>): number {
    const extra = state.spec.ordered ? ["place-before"] : [];
    const values = this.parseAttrs(state, attrs, extra);
    for (const [k, v] of Object.entries(values)) if (v === FLAG_OFF) delete values[k];
    this.checkEntry(state, values);
    let index = state.rows.length;
    const before = attrs["place-before"];
    if (before !== undefined) index = state.rows.indexOf(this.parseId(state, before));
    const now = this.opts.now();
    const row: Row = { id: state.nextId++, values, dynamic: false, createdAt: now };
    this.applyExpiry(state, row, values);
    state.rows.splice(index, 0, row);
    this.regenerate();
    return row.id;
  }

  private set(state: MenuState, attrs: Readonly<Record<string, string>>): void {
    const rows = this.targets(state, attrs);
    const changes = this.parseAttrs(state, attrs, [".id", "numbers"]);
    const next = rows.map((row) => {
      const values = { ...row.values, ...changes };
      for (const [k, v] of Object.entries(values)) if (v === FLAG_OFF) delete values[k];
      return values;
    });
    rows.forEach((row, i) => this.checkEntry(state, next[i], row));
    rows.forEach((row, i) => {
      row.values = next[i];
      if (state.spec.expiry && state.spec.expiry in changes) this.applyExpiry(state, row, changes);
    });
    this.regenerate();
  }

  private setDisabled(state: MenuState, attrs: Readonly<Record<string, string>>, disabled: boolean): void {
    for (const key of Object.keys(attrs)) {
      if (key !== ".id" && key !== "numbers") throw trap(Msg.unknownParameter(this.version, key));
    }
    for (const row of this.targets(state, attrs)) row.values = { ...row.values, disabled: String(disabled) };
    this.regenerate();
  }

  private remove(state: MenuState, attrs: Readonly<Record<string, string>>): void {
    for (const key of Object.keys(attrs)) {
      if (key !== ".id" && key !== "numbers") throw trap(Msg.unknownParameter(this.version, key));
    }
    const doomed = new Set(this.targets(state, attrs));
    state.rows = state.rows.filter((r) => !doomed.has(r));
    this.regenerate();
  }

  private unset(state: MenuState, attrs: Readonly<Record<string, string>>): void {
    for (const key of Object.keys(attrs)) {
      if (![".id", "numbers", "value-name"].includes(key))
        throw trap(Msg.unknownParameter(this.version, key));
    }
    const rows = this.targets(state, attrs);
    const names = (attrs["value-name"] ?? "").split(",");
    for (const key of names) {
      const spec = this.prop(state, key);
      if (!spec || spec.readOnly || spec.required || !state.spec.unsettable?.includes(key))
        throw trap(Msg.noMatch("value-name"));
    }
    for (const row of rows) {
      const values = { ...row.values };
      for (const key of names) delete values[key];
      row.values = values;
      if (state.spec.expiry && names.includes(state.spec.expiry)) row.expiresAt = undefined;
    }
    this.regenerate();
  }

  /** move numbers=*A,*B [destination=*C]: the listed items go, in that order, above C (or to the end). */
  private move(state: MenuState, attrs: Readonly<Record<string, string>>): void {
    for (const key of Object.keys(attrs)) {
      if (![".id", "numbers", "destination"].includes(key))
        throw trap(Msg.unknownParameter(this.version, key));
    }
    const moving = this.rowsById(state, attrs.numbers ?? attrs[".id"]);
    const destination = attrs.destination !== undefined ? this.parseId(state, attrs.destination) : undefined;
    const set = new Set(moving);
    // If the destination itself moves, the block lands where the next staying item follows it.
    let anchor = destination;
    if (anchor && set.has(anchor)) {
      const after = state.rows.slice(state.rows.indexOf(anchor) + 1);
      anchor = after.find((r) => !set.has(r));
    }
    const staying = state.rows.filter((r) => !set.has(r));
    const index = anchor ? staying.indexOf(anchor) : staying.length;
    staying.splice(index, 0, ...moving);
    state.rows = staying;
  }

  // --- time and generated rows ---------------------------------------------------------------------

  private applyExpiry(state: MenuState, row: Row, values: Values): void {
    const key = state.spec.expiry;
    if (!key || values[key] === undefined) return;
    row.expiresAt = this.opts.now() + Number(values[key]);
  }

  /** Drop entries whose timeout has run out (RouterOS removes dynamic address-list entries then). */
  private expire(): void {
    const now = this.opts.now();
    let changed = false;
    for (const state of this.menus.values()) {
      if (!state.spec.expiry) continue;
      const kept = state.rows.filter((r) => r.expiresAt === undefined || r.expiresAt > now);
      if (kept.length !== state.rows.length) {
        state.rows = kept;
        changed = true;
      }
    }
    if (changed) this.regenerate();
  }

  /** Bring generated (dynamic) rows in line with their sources, keeping ids of those that stay. */
  private regenerate(): void {
    for (const state of this.menus.values()) {
      const gen = state.spec.generate;
      if (!gen) continue;
      const wanted = new Map<string, Values>();
      for (const source of this.rowsOf(gen.from)) {
        const values = gen.make(source, this.ctx);
        if (values) wanted.set(`${gen.from}#${source.id}`, values);
      }
      const rows: Row[] = [];
      const seen = new Set<string>();
      for (const row of state.rows) {
        if (row.source === undefined) rows.push(row);
        else if (wanted.has(row.source)) {
          row.values = { ...wanted.get(row.source) };
          seen.add(row.source);
          rows.push(row);
        }
      }
      for (const [source, values] of wanted) {
        if (seen.has(source)) continue;
        rows.push({
          id: state.nextId++,
          values: { ...values },
          dynamic: true,
          createdAt: this.opts.now(),
          source,
        });
      }
      state.rows = rows;
    }
  }
}
