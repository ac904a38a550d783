/**
 * lbgw status: the live state of each uplink, read from the device (read-only): up or down and since when,
 * the last probe, the connections it carries, its sticky users.
 *
 * The target comes either from a Pulumi stack (`--stack`: the resources' own outputs in
 * `pulumi stack export --show-secrets`, run in the program's directory) or from a spec file plus
 * connection flags. Secrets are taken from files or environment variables, never from the command line
 * (which other users see in the process list), and are never printed.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { GatewayStatus } from "../provider/common/status";
import { formatStatus } from "../provider/common/status";
import { buildPlan } from "../provider/plan/plan";
import { parseSpec } from "../provider/spec/schema";
import { readStatus } from "../provider/status";
import { readSpecFile } from "./lbgw";

export const STATUS_USAGE = `usage: lbgw status --stack NAME [--cwd DIR] [--resource NAME] [--json]
       lbgw status --spec FILE --target routeros|linux --host HOST [connection flags] [--owner NAME] [--json]

  --stack NAME            read the targets of the stack's gateways from its state (pulumi stack export
                          --show-secrets, run in --cwd, default: the current directory; the passphrase or
                          backend login as for any pulumi command)
  --resource NAME         only this gateway of the stack (its resource name)
  --spec FILE             the resource's arguments (JSON or YAML, as for lbgw render); a target in the
                          file is used, the flags below override it
  --target routeros|linux the device kind (needed when the file has no target)
  --host, --port, --user  where and as whom to connect
  --password-env VAR      the password is in environment variable VAR
  --private-key FILE      (linux) the SSH private key; --private-key-password-env VAR for its passphrase
  --host-key KEY          (linux) the gateway's host key line or SHA256: fingerprint
  --sudo                  (linux) run the status script through sudo -n
  --tls, --ca FILE        (routeros) api-ssl, verified against the CA in FILE
  --ros-version 6|7       (routeros) major version, default 7
  --timeout DURATION      per command, e.g. 10s
  --owner NAME            the resource's owner tag (default: the file's, else lbgw)
  --json                  print JSON instead of a table

Exit status: 0 read, 1 the device could not be read (unreachable, refused, timed out), 2 bad usage.`;

type Out = (s: string) => void;

class UsageError extends Error {}

const OPTIONS = {
  stack: { type: "string" },
  cwd: { type: "string" },
  resource: { type: "string" },
  spec: { type: "string" },
  target: { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  user: { type: "string" },
  "password-env": { type: "string" },
  "private-key": { type: "string" },
  "private-key-password-env": { type: "string" },
  "host-key": { type: "string" },
  sudo: { type: "boolean" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  "ros-version": { type: "string" },
  timeout: { type: "string" },
  owner: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];

function envSecret(name: string | undefined, flag: string): string | undefined {
  if (name === undefined) return undefined;
  const v = process.env[name];
  if (v === undefined) throw new UsageError(`${flag}: environment variable ${name} is not set`);
  return v;
}

/** The spec file's arguments with the connection flags applied to its target. */
function argsFromFile(values: Values): Record<string, unknown> {
  let file: Record<string, unknown>;
  try {
    file = readSpecFile(values.spec as string);
  } catch (e) {
    throw new UsageError(`cannot read spec ${values.spec}: ${(e as Error).message}`);
  }
  const fileTarget = (file.target ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const kind = values.target ?? (fileTarget.routeros ? "routeros" : fileTarget.linux ? "linux" : undefined);
  if (kind !== "routeros" && kind !== "linux")
    throw new UsageError(`--target must be routeros or linux (the spec file has no target)`);
  const t: Record<string, unknown> = { ...(fileTarget[kind] ?? {}) };
  const set = (k: string, v: unknown) => {
    if (v !== undefined) t[k] = v;
  };
  set("host", values.host);
  set("port", values.port === undefined ? undefined : Number(values.port));
  set(kind === "routeros" ? "username" : "user", values.user);
  set("password", envSecret(values["password-env"], "--password-env"));
  set("timeout", values.timeout);
  if (kind === "linux") {
    if (values["private-key"] !== undefined) {
      try {
        t.privateKey = readFileSync(values["private-key"], "utf8");
      } catch (e) {
        throw new UsageError(`--private-key: cannot read ${values["private-key"]}: ${(e as Error).message}`);
      }
    }
    set("privateKeyPassword", envSecret(values["private-key-password-env"], "--private-key-password-env"));
    set("hostKey", values["host-key"]);
    set("sudo", values.sudo);
  } else {
    set("version", values["ros-version"] === undefined ? undefined : Number(values["ros-version"]));
    if (values.tls) t.tls = values.ca ? { ca: readFileSync(values.ca, "utf8") } : {};
  }
  const { target: _ignored, ...rest } = file;
  return {
    owner: "lbgw",
    ...rest,
    ...(values.owner ? { owner: values.owner } : {}),
    target: { [kind]: t },
  };
}

/** Pulumi's secret envelope → its plaintext value (stack export --show-secrets), recursively. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export function unwrapSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (SECRET_SIG in o) {
      if (typeof o.plaintext !== "string")
        throw new Error("the stack's secrets are encrypted in the export (run with --show-secrets)");
      return unwrapSecrets(JSON.parse(o.plaintext));
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** Keys the provider adds to a resource's outputs (not arguments). */
const OUTPUT_KEYS = ["rules", "device", "ownedEntries", "instance", "holder", "linkStatus", "__provider"];

/**
 * The gateways of a stack export: resources of this provider (dynamic resources whose outputs have
 * `rules`, `device` and a `target`), as argument objects, by resource name.
 */
export function gatewaysInExport(exported: unknown): Array<{ name: string; args: Record<string, unknown> }> {
  const resources =
    ((exported as { deployment?: { resources?: unknown[] } }).deployment?.resources as
      Array<{ urn?: string; type?: string; outputs?: Record<string, unknown> }> | undefined) ?? [];
  return resources
    .filter((r) => (r.type ?? "").startsWith("pulumi-nodejs:dynamic") && r.outputs)
    .filter((r) => "rules" in r.outputs! && "device" in r.outputs! && "target" in r.outputs!)
    .map((r) => {
      const outs = unwrapSecrets(r.outputs) as Record<string, unknown>;
      const args = Object.fromEntries(Object.entries(outs).filter(([k]) => !OUTPUT_KEYS.includes(k)));
      return { name: (r.urn ?? "").split("::").pop() ?? "", args };
    });
}

/**
 * `pulumi stack export --show-secrets`: the CLI reads any backend (file://, Pulumi Cloud, S3) with the
 * user's own login and passphrase settings, and does not run the program (no program dependencies, no
 * preview). Its output stays in this process; only the gateways' arguments are taken from it.
 */
async function exportStack(stack: string, cwd: string): Promise<unknown> {
  const child = spawn(
    "pulumi",
    ["stack", "export", "--show-secrets", "--stack", stack, "--non-interactive"],
    {
      cwd,
      // This module's environment (a caller may have changed PATH or PULUMI_* settings since start-up).
      env: process.env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const out: Buffer[] = [];
  const errOut: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.on("data", (d: Buffer) => errOut.push(d));
  const code = await new Promise<number>((resolve, reject) => {
    child.on("error", (e) => reject(new Error(`cannot run pulumi: ${e.message}`)));
    child.on("close", (c) => resolve(c ?? 1));
  });
  if (code !== 0)
    throw new Error(
      `pulumi stack export --stack ${stack} failed: ${Buffer.concat(errOut).toString().trim()}`,
    );
  return JSON.parse(Buffer.concat(out).toString("utf8"));
}

async function statusOf(args: Record<string, unknown>, label: string): Promise<GatewayStatus> {
  const parsed = parseSpec(args);
  if (!parsed.ok)
    throw new UsageError(
      `invalid spec ${label}:\n${parsed.failures.map((f) => `  ${f.property}: ${f.reason}`).join("\n")}`,
    );
  return readStatus(parsed.spec, buildPlan(parsed.spec));
}

export async function statusMain(argv: string[], out: Out, err: Out): Promise<number> {
  let values: Values;
  try {
    values = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false }).values;
  } catch (e) {
    err(`${(e as Error).message}\n${STATUS_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out(`${STATUS_USAGE}\n`);
    return 0;
  }
  if (!values.stack === !values.spec) {
    err(`give either --stack or --spec\n${STATUS_USAGE}\n`);
    return 2;
  }
  let targets: Array<{ name: string; args: Record<string, unknown> }>;
  try {
    if (values.spec) targets = [{ name: values.spec, args: argsFromFile(values) }];
    else {
      const stack = values.stack as string;
      let exported: unknown;
      try {
        exported = await exportStack(stack, values.cwd ?? process.cwd());
      } catch (e) {
        err(`lbgw status: ${(e as Error).message}\n`);
        return 1;
      }
      targets = gatewaysInExport(exported).filter((g) => !values.resource || g.name === values.resource);
      if (targets.length === 0)
        throw new UsageError(
          `stack ${stack} has no gateway${values.resource ? ` named ${values.resource}` : ""} in its state`,
        );
    }
  } catch (e) {
    err(`lbgw status: ${(e as Error).message}\n`);
    return 2;
  }

  const results: GatewayStatus[] = [];
  let failed = false;
  for (const t of targets) {
    try {
      results.push(await statusOf(t.args, t.name));
    } catch (e) {
      if (e instanceof UsageError) {
        err(`lbgw status: ${e.message}\n`);
        return 2;
      }
      failed = true;
      err(`lbgw status: cannot read ${t.name}: ${(e as Error).message}\n`);
    }
  }
  if (values.json) out(`${JSON.stringify(values.stack ? results : (results[0] ?? null), null, 2)}\n`);
  else out(results.map(formatStatus).join("\n"));
  return failed ? 1 : 0;
}
