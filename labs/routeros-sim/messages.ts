/**
 * Every text the simulator puts in a `!trap` or `!fatal`, in one place, with where it comes from.
 *
 * "seen" = the exact text appears in a public trace of a real router:
 *   [A] librouteros docs/api_analysis.rst (luqasz/librouteros): `!fatal` "session terminated on request",
 *       `!trap =category=2 =message=interrupted`, "cannot log in".
 *   [B] BenMenking/routeros-api#52 (RouterOS 6.47.6 debug trace): "invalid user name or password (6)".
 *   [C] Security assessment of CHR 7.20.8 (public report): `/login =name=admin` -> `!done =ret=<challenge>`,
 *       then any command -> `!fatal` "not logged in".
 *   [D] home-assistant/core#68115, tomaae/homeassistant-mikrotik_router#328 (librouteros MultiTrapError
 *       joins traps with ", "): "no such command or directory (routerboard), no such command prefix",
 *       i.e. a missing directory gives two `!trap`s.
 *   [E] aluisiora/node-routeros#29, socialwifi/RouterOS-api#55: an unknown command in an existing menu gives
 *       "no such command".
 *   [F] GideonLeGrange/mikrotik-java#15/#36/#64 (v6): "unknown parameter" (no name);
 *       terraform-routeros/terraform-provider-routeros#535 and #682 (v7): "unknown parameter thr-rtt-max".
 *   [G] IgorKha/wireguard-mikrotik#2: "input does not match any value of interface";
 *       gitpel/routeros-ipsec-snmp#1: "input does not match any value of value-name".
 *   [H] /work/shared/notes/routeros.md: "failure: already have such entry", "no such item".
 * "unverified" = RouterOS wording recalled from consoles/forums but not found in a stored public trace; kept
 * in RouterOS's style. Tests should match on the stable part (the property name), not on these exact texts.
 */
import { RosVersion } from "./version";

export const Msg = {
  /** [C] sent as `!fatal` for any command before a successful /login. */
  notLoggedIn: "not logged in",
  /** [A] `!fatal` reply to /quit. */
  sessionTerminated: "session terminated on request",
  /** [A] category 2, the cancelled command's trap. */
  interrupted: "interrupted",
  /** [B] from 6.43 on (node-routeros 1.6.9 also recognises exactly this text); [A] before. */
  badLogin(v: RosVersion): string {
    return v.major > 6 || (v.major === 6 && v.minor >= 43)
      ? "invalid user name or password (6)"
      : "cannot log in";
  },
  /** [D] first of the two traps for a path through a directory that does not exist. */
  noSuchDir: (segment: string) => `no such command or directory (${segment})`,
  /** [D] second trap of that pair. */
  noSuchPrefix: "no such command prefix",
  /** [E] the menu exists, the command does not. */
  noSuchCommand: "no such command",
  /** [F] v6 gives no name, v7 names the parameter. */
  unknownParameter(v: RosVersion, name: string): string {
    return v.major >= 7 ? `unknown parameter ${name}` : "unknown parameter";
  },
  /** [G] value not among the allowed names (enums, references to interfaces/tables/lists). */
  noMatch: (prop: string) => `input does not match any value of ${prop}`,
  /** unverified: syntactically invalid value (bad address, bad number, bad duration). */
  invalidValue: (prop: string) => `invalid value for argument ${prop}`,
  /** unverified: number outside its range. */
  outOfRange: (prop: string, min: number, max: number) => `value of ${prop} out of range (${min}..${max})`,
  /** unverified: a required property is missing on add. */
  missing: (props: string[]) => `missing value(s) of argument(s) ${props.join(",")}`,
  /** [H] */
  noSuchItem: "no such item",
  /** unverified: an .id that is not `*` + hex. */
  badId: "invalid internal item number",
  /** [H] duplicate address-list entry / routing table name. */
  duplicate: "failure: already have such entry",
  /** unverified: the same address twice on one interface. */
  duplicateAddress: "failure: already have such address",
  /** unverified: set/remove on a dynamic (router-made) entry. */
  dynamicItem: "failure: can not change dynamic item",
} as const;

/**
 * `!trap` categories (API manual, "!trap"): 0 missing item or command, 1 argument value failure, 2 execution
 * of command interrupted, 3 scripting failure, 4 general failure, 5 API related failure, 6 TTY related
 * failure, 7 value generated with :return. The manual's example gives 1 for "input does not match any value".
 * A login refusal is given none (no public trace shows one).
 */
export const TrapCategory = {
  missingItemOrCommand: 0,
  argumentValue: 1,
  interrupted: 2,
  general: 4,
} as const;

/** The category of a simulator trap message, by which Msg it is. */
export function categoryOf(message: string): number | undefined {
  if (/^no such (command|item)/.test(message)) return TrapCategory.missingItemOrCommand;
  if (
    /^(unknown parameter|input does not match any value|invalid value|value of .* out of range|missing value|invalid internal item number|expected end of command)/.test(
      message,
    )
  )
    return TrapCategory.argumentValue;
  if (message === Msg.interrupted) return TrapCategory.interrupted;
  if (message.startsWith("failure:")) return TrapCategory.general;
  return undefined;
}
