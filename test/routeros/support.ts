/**
 * A simulated router with the seeds' interfaces and addresses plus foreign configuration (entries this
 * resource must never touch), and helpers to drive the real provider module against it.
 */
import * as provider from "../../provider/index";
import type { SpecInput } from "../../provider/spec/schema";
import type { RosSimOptions, RouterOsSim } from "../../labs/routeros-sim";
import { RawRosClient, startRouterOsSim } from "../../labs/routeros-sim";
import { PacketPath, type ProbeWorld } from "../../labs/routeros-sim/packet-path";

export const FOREIGN = {
  mangle: {
    chain: "forward",
    action: "accept",
    "connection-state": "established",
    comment: "operator: keep",
  },
  mangle2: {
    chain: "prerouting",
    action: "mark-packet",
    "new-packet-mark": "voip",
    protocol: "udp",
    passthrough: "yes",
    comment: "operator: voip",
  },
  nat: {
    chain: "dstnat",
    action: "dst-nat",
    protocol: "tcp",
    "dst-port": "8080",
    "to-addresses": "192.168.0.10",
    comment: "operator: web",
  },
  route: { "dst-address": "172.16.0.0/12", gateway: "192.168.0.254", comment: "operator: vpn" },
};

/** The seeds' router: their interfaces and addresses, and the operator's own (foreign) entries. */
export async function seedRouter(
  version: string,
  password = "s3cret",
  extra: Pick<RosSimOptions, "apiSsl"> = {},
): Promise<RouterOsSim> {
  return startRouterOsSim({
    ...extra,
    version,
    username: "admin",
    password,
    interfaces: ["Local", "wlan1", "wlan2", "lte1", "ether5"].map((name) => ({ name })),
    seed: {
      "/ip/address": [
        { address: "192.168.0.1/24", interface: "Local" },
        { address: "10.111.0.2/24", interface: "wlan2" },
        { address: "10.112.0.2/24", interface: "wlan1" },
        { address: "10.113.0.2/24", interface: "lte1" },
      ],
      "/ip/firewall/mangle": [FOREIGN.mangle, FOREIGN.mangle2],
      "/ip/firewall/nat": [FOREIGN.nat],
      "/ip/route": [FOREIGN.route],
    },
  });
}

export function targetOf(sim: RouterOsSim): SpecInput["target"] {
  return {
    routeros: {
      host: sim.host,
      port: sim.port,
      username: "admin",
      password: "s3cret",
      version: sim.version.major as 6 | 7,
      timeout: "5s",
    },
  };
}

/** What the SDK passes as `holder` for the tests' resource (sdk/index.ts: project/stack/resource). */
export const HOLDER = "tests/dev/gw";

/** check(), as the engine does before anything else; the inputs it returns (a fixture must pass). */
export async function checked(
  spec: SpecInput,
  olds: Record<string, unknown> = {},
  holder = HOLDER,
): Promise<Record<string, unknown>> {
  // The SDK adds the holder (project/stack/resource) to every resource's inputs.
  const r = await provider.check(olds, { ...spec, holder } as unknown as Record<string, unknown>);
  if (r.failures.length) throw new Error(`fixture rejected: ${JSON.stringify(r.failures)}`);
  return r.inputs;
}

/** check() then create(), as the engine does; returns what the engine would store. */
export async function up(
  spec: SpecInput,
): Promise<{ id: string; inputs: Record<string, unknown>; outs: Record<string, unknown> }> {
  const inputs = await checked(spec);
  const created = await provider.create(inputs);
  return { id: created.id as string, inputs, outs: created.outs as Record<string, unknown> };
}

/** check() then diff() and, when it reports changes, update(): one `pulumi up` of a changed program. */
export async function upAgain(
  id: string,
  olds: Record<string, unknown>,
  spec: SpecInput,
): Promise<{ changed: boolean; inputs: Record<string, unknown>; outs: Record<string, unknown> }> {
  const inputs = await checked(spec, olds);
  const d = await provider.diff(id, olds, inputs);
  if (!d.changes) return { changed: false, inputs, outs: olds };
  const updated = await provider.update(id, olds, inputs);
  return { changed: true, inputs, outs: updated.outs as Record<string, unknown> };
}

export function owned(sim: RouterOsSim, menu: string, owner = "gw"): Array<Record<string, string>> {
  return sim.entries(menu).filter((e) => (e.comment ?? "").startsWith(`lbgw:${owner}:`));
}

export function foreignEntries(sim: RouterOsSim, menu: string): Array<Record<string, string>> {
  return sim.entries(menu).filter((e) => !(e.comment ?? "").startsWith("lbgw:"));
}

export const ALL_MENUS = [
  "/system/script",
  "/interface/list",
  "/interface/list/member",
  "/ip/firewall/address-list",
  "/routing/table",
  "/ip/route",
  "/ip/firewall/nat",
  "/ip/firewall/mangle",
  "/tool/netwatch",
  "/routing/rule",
];

const V7_ONLY = ["/routing/table", "/routing/rule"];

/** The owned menus that exist on this simulator's RouterOS version. */
export function menusOf(sim: RouterOsSim): string[] {
  return ALL_MENUS.filter((m) => sim.version.major === 7 || !V7_ONLY.includes(m));
}

/** The menus the packet-path evaluator reads (routing tables exist on RouterOS 7 only). */
const PACKET_PATH_MENUS = [
  "/ip/address",
  "/interface/list/member",
  "/ip/firewall/mangle",
  "/ip/firewall/nat",
  "/ip/firewall/address-list",
  "/ip/route",
  "/routing/table",
  "/routing/rule",
  "/tool/netwatch",
];

/**
 * A packet-path evaluator over what `sim` holds at each packet, with `world` answering probes. Netwatch
 * runs on the evaluator's clock; its scripts write to `sim` as the router would.
 */
export function packetPathOn(sim: RouterOsSim, world: ProbeWorld): PacketPath {
  const menus = PACKET_PATH_MENUS.filter((m) => sim.version.major === 7 || !V7_ONLY.includes(m));
  return new PacketPath(() => Object.fromEntries(menus.map((m) => [m, sim.entries(m)])), {
    major: sim.version.major as 6 | 7,
    world,
    device: {
      set: (menu, id, attrs) => sim.edit.set(menu, id, attrs),
      netwatchStatus: (id, status) => sim.edit.netwatchStatus(id, status),
    },
  });
}

/** Writes the simulator received since the last reset, by command and comment key. */
export function writesSince(sim: RouterOsSim, from: number): string[] {
  return sim.log
    .slice(from)
    .filter((e) => /\/(add|set|remove|move|unset|enable|disable)$/.test(e.command))
    .map((e) => `${e.command} ${e.attrs.comment ?? e.attrs[".id"] ?? e.attrs.numbers ?? ""}`);
}

/** A RouterOS string literal's value: "\\n", "\\r", "\\t" and "\\<char>" (e.g. \\" \\$ \\\\) escapes. */
function unquote(literal: string): string {
  const escapes: Record<string, string> = { n: "\n", r: "\r", t: "\t" };
  return literal.slice(1, -1).replace(/\\(.)/g, (_, c: string) => escapes[c] ?? c);
}

/** "/ip firewall mangle" + "add a=b c="d e"" → API words. */
export function scriptToCommands(script: string): string[][] {
  let menu = "";
  const commands: string[][] = [];
  for (const line of script.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    if (line.startsWith("/")) {
      menu = line.replace(/ /g, "/");
      continue;
    }
    const words = [...line.matchAll(/([a-z-]+)(?:=("(?:[^"\\]|\\.)*"|\S*))?/g)].slice(1);
    commands.push([
      `${menu}/add`,
      ...words.map(([, k, v]) => `=${k}=${v === undefined ? "" : v.startsWith('"') ? unquote(v) : v}`),
    ]);
  }
  return commands;
}

/** Pastes a RouterOS script (`lbgw render`) into the simulator as a terminal would: every line must apply. */
export async function pasteScript(sim: RouterOsSim, script: string, password: string): Promise<void> {
  const client = await RawRosClient.connect({ host: sim.host, port: sim.port });
  try {
    await client.login("admin", password);
    for (const words of scriptToCommands(script)) {
      const result = await client.command(words);
      if (result.traps.length) throw new Error(`${words.join(" ")}: ${JSON.stringify(result.traps)}`);
    }
  } finally {
    await client.close();
  }
}
