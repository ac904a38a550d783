/**
 * RouterOS's own command data: `/console/inspect` crawls of real CHRs (../shared/routeros-inspect/, see its
 * README). It is third-party data, read here at test time and never copied into this repository; our tables
 * stay in our own words and the conformance test compares them with it.
 */
import * as fs from "fs";
import * as path from "path";

/** Beside the repository, as CI clones it: <root>/../shared/routeros-inspect/oracle.json. */
export const ORACLE_PATH = path.resolve(__dirname, "../..", "../shared/routeros-inspect/oracle.json");

/** "all", or the [first, last] crawled versions (inclusive) in which something exists. */
type Ranges = "all" | Array<[string, string]>;

interface LspArg {
  /** Type text, e.g. "Num; 0..255 (integer number)". */
  t?: string;
  /** Offered values. */
  e?: string[];
}

interface OracleFile {
  menus_kept: string[];
  v7: {
    restraml: {
      versions: string[];
      menus: Record<string, { present: Ranges; cmd: Record<string, Record<string, Ranges>> } | null>;
      deep: Record<
        string,
        {
          /** Values offered, the same in the builds listed, or differing per build. */
          completion: Record<
            string,
            { values: string[]; versions: string[] } | { by_version: Record<string, string[]> }
          >;
          readable: Record<string, string[]>;
        } | null
      >;
    };
    lsp: {
      version: string;
      menus: Record<string, { cmd: Record<string, { args: Record<string, LspArg> }> } | null>;
    };
  };
}

export function loadOracle(file = ORACLE_PATH): OracleFile {
  if (!fs.existsSync(file))
    throw new Error(
      `RouterOS command data not found at ${file}: the conformance test needs the shared ` +
        `routeros-inspect data beside the repository (CI always has it); it is never copied into the repo`,
    );
  return JSON.parse(fs.readFileSync(file, "utf8")) as OracleFile;
}

/** Hand-curated RouterOS 6 absences and value lists, each with its evidence (v6 has no inspect data). */
export interface V6Notes {
  menus_absent: Record<string, { evidence: string }>;
  props_absent: Record<string, Record<string, { evidence: string }>>;
  values: Record<string, Record<string, { values: string[]; evidence: string }>>;
}

export function loadV6Notes(): V6Notes {
  const file = path.join(path.dirname(ORACLE_PATH), "v6-notes.json");
  if (!fs.existsSync(file)) throw new Error(`RouterOS 6 notes not found at ${file} (CI always has them)`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as V6Notes;
}

/** Orders crawled version names: 7.9 < 7.9.2 < 7.10.2 < 7.22rc4 < 7.22 < 7.22.1. */
export function compareRos(a: string, b: string): number {
  const key = (v: string): number[] => {
    const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:(beta|rc)(\d+))?$/.exec(v);
    if (!m) throw new Error(`not a RouterOS version: ${v}`);
    const stage = m[4] === "beta" ? 0 : m[4] === "rc" ? 1 : 2;
    return [Number(m[1]), Number(m[2]), stage === 2 ? Number(m[3] ?? 0) : -1, stage, Number(m[5] ?? 0)];
  };
  const [x, y] = [key(a), key(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

const within = (ranges: Ranges, v: string): boolean =>
  ranges === "all" || ranges.some(([first, last]) => compareRos(first, v) <= 0 && compareRos(v, last) <= 0);

/** Questions the tests ask of the data. */
export class RouterOsFacts {
  constructor(private readonly o: OracleFile) {}

  /** Every crawled v7 build, oldest first. */
  get versions(): string[] {
    return [...this.o.v7.restraml.versions].sort(compareRos);
  }

  get newest(): string {
    return this.versions[this.versions.length - 1];
  }

  /** The version of the typed crawl (value lists, unset's value names). */
  get lspVersion(): string {
    return this.o.v7.lsp.version;
  }

  /** The oldest crawled build at or above `min` (what a "minimum supported version" is checked as). */
  crawledAtLeast(min: string): string {
    const v = this.versions.find((x) => compareRos(x, min) >= 0);
    if (!v) throw new Error(`no crawl at or above ${min}`);
    return v;
  }

  covers(menu: string): boolean {
    return this.o.menus_kept.includes(menu);
  }

  hasMenu(menu: string, v: string): boolean {
    const m = this.o.v7.restraml.menus[menu];
    return !!m && within(m.present, v);
  }

  /** The command's arguments in version `v`, or undefined when the menu has no such command then. */
  commandArgs(menu: string, command: string, v: string): Set<string> | undefined {
    if (!this.hasMenu(menu, v)) return undefined;
    const args = this.o.v7.restraml.menus[menu]?.cmd[command];
    if (!args) return undefined;
    const present = Object.entries(args).filter(([, r]) => within(r, v));
    return present.length ? new Set(present.map(([a]) => a)) : undefined;
  }

  /** Values the router offers for a property, from the newest crawl that lists them. */
  offered(menu: string, prop: string): { values: string[]; version: string } | undefined {
    const byVersion = this.offeredByVersion(menu, prop);
    const newest = Object.keys(byVersion).sort(compareRos).pop();
    return newest ? { values: byVersion[newest], version: newest } : undefined;
  }

  /** Values offered in version `v`, when that build's crawl lists them. */
  offeredIn(menu: string, prop: string, v: string): string[] | undefined {
    return this.offeredByVersion(menu, prop)[v];
  }

  private offeredByVersion(menu: string, prop: string): Record<string, string[]> {
    const c = this.o.v7.restraml.deep[menu]?.completion[prop];
    if (!c) return {};
    if ("by_version" in c) return c.by_version;
    return Object.fromEntries(c.versions.map((v) => [v, c.values]));
  }

  /** Every readable property in version `v`, when that build was crawled deeply. */
  readable(menu: string, v: string): string[] | undefined {
    return this.o.v7.restraml.deep[menu]?.readable[v];
  }

  /** A typed argument of the lsp crawl. */
  lspArg(menu: string, command: string, arg: string): LspArg | undefined {
    return this.o.v7.lsp.menus[menu]?.cmd[command]?.args[arg];
  }
}
