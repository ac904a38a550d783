/**
 * `pulumi import lbgw:index:LoadBalancedGateway NAME ID` (and the `import` resource option): a resource
 * rebuilt from what its device holds, after a lost state or for a configuration pasted from `lbgw render`.
 *
 * The ID is the one a resource of this package has: "<owner>@routeros://HOST:PORT" or
 * "<owner>@linux://HOST:PORT". The arguments come from the owner's spec record on the device
 * (provider/common/record.ts); the rules, the claim and the link status are read as a refresh reads them.
 * An import has no program arguments, so how to log in comes from the environment (IMPORT_ENV); the
 * rebuilt arguments carry no password or key (the program gives them, as a secret).
 * The outputs do (the state keeps them encrypted), so that a refresh right after the import can log in.
 */
import type * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import type { Claim } from "../provider/common/claim";
import { newInstance } from "../provider/common/claim";
import { readRecord } from "../provider/common/record";
import * as impl from "../provider/index";
import { routerOsDevice } from "../provider/backends";
import { TargetSchema, formatPath, parseSpec } from "../provider/spec/schema";

/** What an import reads from the environment, by device kind (README "Import"). */
export const IMPORT_ENV = {
  routeros: {
    LBGW_ROUTEROS_USERNAME: 'the API user (default "admin")',
    LBGW_ROUTEROS_PASSWORD: "its password (required)",
    LBGW_ROUTEROS_TLS:
      'API over TLS: "insecure", or the file of the CA certificate (PEM) that signed the router\'s',
  },
  linux: {
    LBGW_SSH_HOST_KEY: 'the gateway\'s SSH host key or its "SHA256:..." fingerprint (required)',
    LBGW_SSH_USER: 'the SSH user (default "root")',
    LBGW_SSH_PRIVATE_KEY: "the file of the private key; or LBGW_SSH_PASSWORD, or an agent (SSH_AUTH_SOCK)",
    LBGW_SSH_SUDO: '"true" when the user needs sudo',
  },
} as const;

/**
 * Credentials are never put into the rebuilt arguments (the engine prints them as code to paste): each one
 * the login used reads this instead, which passes the check and says what the program must give.
 */
const CREDENTIALS = ["password", "privateKey", "privateKeyPassword"];
export const CREDENTIAL_PLACEHOLDER = "(a secret: give it in the program)";

export function parseImportId(id: string): {
  owner: string;
  kind: "routeros" | "linux";
  host: string;
  port: number;
} {
  const m = /^([A-Za-z0-9_]{1,24})@(routeros|linux):\/\/([^:/\s]+):(\d{1,5})$/.exec(id);
  if (!m)
    throw new Error(
      `import ID "${id}": expected OWNER@routeros://HOST:PORT or OWNER@linux://HOST:PORT (the ID of the ` +
        "resource that made the configuration, e.g. office@routeros://192.0.2.1:8728)",
    );
  return { owner: m[1], kind: m[2] as "routeros" | "linux", host: m[3], port: Number(m[4]) };
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string, why: string): string {
  const v = env[name];
  if (!v) throw new Error(`import needs ${name}: ${why}`);
  return v;
}

/** The target to log in with, from the ID and the environment. */
function loginTarget(
  kind: "routeros" | "linux",
  host: string,
  port: number,
  env: Env,
): Record<string, unknown> {
  if (kind === "routeros") {
    const tls = env.LBGW_ROUTEROS_TLS;
    return {
      host,
      port,
      username: env.LBGW_ROUTEROS_USERNAME || "admin",
      password: required(env, "LBGW_ROUTEROS_PASSWORD", IMPORT_ENV.routeros.LBGW_ROUTEROS_PASSWORD),
      ...(tls ? { tls: tls === "insecure" ? { insecure: true } : { ca: fs.readFileSync(tls, "utf8") } } : {}),
    };
  }
  const key = env.LBGW_SSH_PRIVATE_KEY;
  return {
    host,
    port,
    user: env.LBGW_SSH_USER || "root",
    hostKey: required(env, "LBGW_SSH_HOST_KEY", IMPORT_ENV.linux.LBGW_SSH_HOST_KEY),
    sudo: env.LBGW_SSH_SUDO === "true",
    ...(key ? { privateKey: fs.readFileSync(key, "utf8") } : {}),
    ...(env.LBGW_SSH_PASSWORD ? { password: env.LBGW_SSH_PASSWORD } : {}),
    ...(!key && !env.LBGW_SSH_PASSWORD && env.SSH_AUTH_SOCK ? { agentSocketPath: env.SSH_AUTH_SOCK } : {}),
  };
}

export async function importGateway(
  id: string,
  env: Env = process.env,
): Promise<Required<Pick<pulumi.dynamic.ReadResult, "id" | "props" | "inputs">>> {
  const { owner, kind, host, port } = parseImportId(id);
  const login = loginTarget(kind, host, port, env);
  // The login as the resource's own target: checked (a bad value is named) and given its defaults.
  const target = TargetSchema.safeParse({ [kind]: login });
  if (!target.success)
    throw new Error(
      `import of ${id}: ${target.error.issues.map((i) => `${formatPath(["target", ...i.path])}: ${i.message}`).join("; ")}`,
    );
  let found: { record: string; claim: Claim | undefined; version?: number };
  if (target.data.routeros) {
    const { readRouterOsRecord } = await import("../provider/routeros/backend");
    const r = await readRouterOsRecord(routerOsDevice(target.data.routeros), owner, impl.providerLog);
    found = { ...r, version: Number(/^(\d+)\./.exec(r.running)?.[1]) };
  } else {
    const { readLinuxRecord } = await import("../provider/linux/apply");
    const { linuxTarget } = await import("../provider/linux/backend");
    found = await readLinuxRecord(linuxTarget({ target: target.data }), owner, impl.providerLog);
  }
  const device = `${kind}://${host}:${port}`;
  const record = readRecord(found.record);
  if (!record)
    throw new Error(
      `${device} holds no configuration of owner "${owner}" to import (no spec record: it was not made by ` +
        "this package, or by a version before 0.1.0 that kept none)",
    );
  const recorded = ((record.target ?? {}) as Record<string, Record<string, unknown>>)[kind] ?? {};
  if (kind === "routeros" && Number.isFinite(found.version) && recorded.version !== found.version)
    throw new Error(
      `${device}: the spec record is for RouterOS ${String(recorded.version)} but the router runs ${found.version}`,
    );
  const args = { ...record, owner, target: { [kind]: { ...recorded, ...login } } };
  const parsed = parseSpec(args);
  if (!parsed.ok)
    throw new Error(
      `${device}: the spec record of owner "${owner}" is not valid arguments: ` +
        parsed.failures.map((f) => `${f.property}: ${f.reason}`).join("; "),
    );
  if (found.claim)
    impl.providerLog(
      `importing owner "${owner}" as claimed by ${found.claim.holder || "a resource"} (instance ` +
        `${found.claim.instance}): this resource holds it from now on`,
    );
  // As a refresh reads it: the rules the device holds, and the link status.
  const read = await impl.read(id, args);
  const props = {
    ...(read.props as Record<string, unknown>),
    holder: found.claim?.holder ?? "",
    // The device's claim: the next up then rewrites nothing (or only the holder, when it changed).
    instance: found.claim?.instance ?? newInstance(),
  };
  const { [kind]: full } = args.target;
  const inputs = {
    ...record,
    owner,
    target: {
      [kind]: Object.fromEntries(
        Object.entries(full).map(([k, v]) => [k, CREDENTIALS.includes(k) ? CREDENTIAL_PLACEHOLDER : v]),
      ),
    },
  };
  return { id, props, inputs };
}
