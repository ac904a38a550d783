#!/usr/bin/env node
/**
 * lbgw render --spec FILE(.json|.yaml) --target routeros|linux [--ros-version 6|7] [--owner NAME]
 *             [--holder PROJECT/STACK/RESOURCE]
 * lbgw status (see cli/status.ts)
 *
 * Prints the complete configuration the provider would apply: a RouterOS script to paste into a terminal,
 * or a POSIX sh script to run as root on a Linux gateway. The spec file has the resource's argument shape;
 * connection settings are not needed (a `target` in the file is ignored apart from its version).
 *
 * `--holder` writes the claim (provider/common/claim.ts) of the Pulumi resource that will import
 * the configuration (`pulumi import`, README "Import"): that resource then holds it without a write.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { deviceSafeHolder, newInstance } from "../provider/common/claim";
import { buildPlan } from "../provider/plan/plan";
import { parseSpec } from "../provider/spec/schema";

const USAGE =
  "usage: lbgw render --spec FILE(.json|.yaml) --target routeros|linux [--ros-version 6|7] [--owner NAME]\n" +
  "                   [--holder PROJECT/STACK/RESOURCE]\n" +
  "       lbgw status --help";

/** A spec file (JSON, or YAML by its extension) holding an object; throws with the reason. */
export function readSpecFile(path: string): Record<string, unknown> {
  const text = readFileSync(path, "utf8");
  const parsed: unknown = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error("the file must hold an object");
  return parsed as Record<string, unknown>;
}

export async function main(
  argv: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  if (argv[0] === "status") return (await import("./status")).statusMain(argv.slice(1), out, err);
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        spec: { type: "string" },
        target: { type: "string" },
        "ros-version": { type: "string" },
        owner: { type: "string" },
        holder: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    out(`${USAGE}\n`);
    return 0;
  }
  if (positionals[0] !== "render" || !values.spec || !values.target) {
    err(`${USAGE}\n`);
    return 2;
  }
  if (values.target !== "routeros" && values.target !== "linux") {
    err(`--target must be routeros or linux (got ${values.target})\n`);
    return 2;
  }

  let file: Record<string, unknown>;
  try {
    file = readSpecFile(values.spec);
  } catch (e) {
    err(`cannot read spec ${values.spec}: ${(e as Error).message}\n`);
    return 2;
  }

  const fileTarget = (file.target ?? {}) as { routeros?: { version?: unknown } };
  const rosVersion = values["ros-version"] ?? fileTarget.routeros?.version ?? 7;
  const target =
    values.target === "routeros"
      ? { routeros: { host: "router", username: "render", password: "", version: Number(rosVersion) } }
      : { linux: { host: "gateway", hostKey: "render", password: "render" } };
  const result = parseSpec({
    owner: "lbgw",
    ...file,
    ...(values.owner ? { owner: values.owner } : {}),
    target,
  });
  if (!result.ok) {
    err(
      `invalid spec ${values.spec}:\n${result.failures.map((f) => `  ${f.property}: ${f.reason}`).join("\n")}\n`,
    );
    return 1;
  }
  const spec = result.spec;
  const plan = buildPlan(spec);
  const claim = values.holder
    ? { instance: newInstance(), holder: deviceSafeHolder(values.holder) }
    : undefined;
  if (spec.target.routeros) {
    const { renderRouterOs } = await import("../provider/routeros/render");
    const { renderScript } = await import("../provider/routeros/script");
    const v = spec.target.routeros.version;
    const desired = renderRouterOs(plan, v);
    const claimed = claim
      ? (await import("../provider/routeros/backend")).withClaim(desired, claim)
      : desired;
    out(
      renderScript(claimed, v, [
        `pulumi-loadbalanced-gateway: owner ${plan.owner}, RouterOS ${v}, strategy ${plan.strategy}`,
        `every entry carries the comment prefix lbgw:${plan.owner}: (remove them all to undo)`,
      ]),
    );
  } else {
    const { renderLinuxScript } = await import("../provider/linux/script");
    out(renderLinuxScript(spec, plan, { claim }));
  }
  return 0;
}

if (require.main === module) {
  main(
    process.argv.slice(2),
    (s) => process.stdout.write(s),
    (s) => process.stderr.write(s),
  ).then((code) => (process.exitCode = code));
}
