/**
 * The fixed numbers and names of the Linux backend (see render.ts), in one place: the nft table, the prober
 * and the rendered script must agree on them, and every owned object on the device is recognised by them.
 */
import type { PlanLink } from "../plan/plan";
import { MAX_LINKS } from "../spec/schema";

export const MARK_BASE = 0x100;
export const TABLE_BASE = 100;
export const PRIO_MAIN = 10000;
export const PRIO_FWMARK = 10100;
export const PRIO_SOURCE = 10200;
export const PRIO_ROUTER = 10300;
/** Owned ip rules: priority in [PRIO_FIRST, PRIO_LAST] and table main (PRIO_MAIN only) or 101..116. */
export const PRIO_FIRST = 10000;
export const PRIO_LAST = 10399;
export const OWNED_TABLES = Array.from({ length: MAX_LINKS }, (_, i) => TABLE_BASE + i + 1);
/** Fixed jhash seed: a user hashes to the same slot after the table is replaced (the default is random). */
export const JHASH_SEED = "0x6c626777";

export const linkMark = (l: PlanLink): number => MARK_BASE + l.index;
export const linkTable = (l: PlanLink): number => TABLE_BASE + l.index;
/** nft prints marks as 0x%08x; the rendered text uses the printed form so read-back compares equal. */
export const hexMark = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;
export const tableName = (owner: string): string => `lbgw_${owner}`;

/** The prober's files (and boot.sh) and its runtime directory, per owner. */
export const LIB_DIR = "/usr/local/lib/lbgw";
export const RUN_DIR = "/run/lbgw";
