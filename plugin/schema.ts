/**
 * The Pulumi package schema of the `lbgw` resource plugin, generated from the zod schema of the arguments
 * (provider/spec/schema.ts): the arguments have one definition, and every language's SDK (and Pulumi YAML)
 * gets it from here. `schema.json` beside this file is its committed output (`npm run schema`), for
 * `pulumi package gen-sdk` and for readers; test/plugin/schema.test.ts fails when the two differ.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { SpecSchema } from "../provider/spec/schema";

export const PACKAGE = "lbgw";
export const RESOURCE = `${PACKAGE}:index:LoadBalancedGateway`;
/** The plugin's version is the npm package's (found upward from here: plugin/ in the source, dist/plugin/ built). */
export const VERSION = packageVersion(__dirname);

function packageVersion(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    const file = path.join(d, "package.json");
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "pulumi-loadbalanced-gateway" && pkg.version) return pkg.version;
    }
    if (path.dirname(d) === d) throw new Error(`no package.json of pulumi-loadbalanced-gateway above ${dir}`);
  }
}

type JsonSchema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  description?: string;
};

export interface TypeSpec {
  type?: string;
  $ref?: string;
  items?: TypeSpec;
  additionalProperties?: TypeSpec;
  oneOf?: TypeSpec[];
}
export interface PropertySpec extends TypeSpec {
  description?: string;
  secret?: boolean;
}
export interface ObjectTypeSpec {
  type: "object";
  description?: string;
  properties: Record<string, PropertySpec>;
  required?: string[];
}

/**
 * The name of each object type by where it sits in the arguments ("[]" is a list's element). A new nested
 * object in the zod schema must be named here: generation fails until it is.
 */
const TYPE_NAMES: Record<string, string> = {
  target: "Target",
  "target.routeros": "RouterOsTarget",
  "target.routeros.tls": "RouterOsTls",
  "target.linux": "LinuxTarget",
  lan: "Lan",
  "links[]": "Link",
  "links[].nat": "SourceNat",
  "links[].check": "Check",
  sticky: "Sticky",
  "pins[]": "Pin",
};

/** Arguments stored encrypted in the state: the target holds the device's credentials. */
const SECRET_ARGUMENTS = new Set(["target"]);
/** Set by the SDK or the plugin, never by a program: not part of the schema. */
const HIDDEN_ARGUMENTS = new Set(["holder"]);

const ref = (name: string): TypeSpec => ({ $ref: `#/types/${PACKAGE}:index:${name}` });

class Converter {
  readonly types: Record<string, ObjectTypeSpec> = {};

  property(s: JsonSchema, path: string): PropertySpec {
    return { ...this.type(s, path), ...(s.description ? { description: s.description } : {}) };
  }

  private type(s: JsonSchema, path: string): TypeSpec {
    if (s.anyOf) {
      // A union of literals of one kind is that kind (version: 6 | 7); otherwise each variant is offered
      // (tls: false | {...}, nat: "masquerade" | {...}).
      const variants = dedupe(s.anyOf.map((v) => this.type(v, path)));
      return variants.length === 1 ? variants[0] : { oneOf: variants };
    }
    switch (s.type) {
      case "object":
        return this.object(s, path);
      case "array":
        if (!s.items) throw new Error(`${path}: a list without an element type`);
        return { type: "array", items: this.type(s.items, `${path}[]`) };
      case "number":
        return { type: Number.isInteger(s.const) && s.const !== undefined ? "integer" : "number" };
      case "integer":
      case "string":
      case "boolean":
        return { type: s.type };
      default:
        throw new Error(`${path}: no Pulumi type for JSON Schema ${JSON.stringify(s)}`);
    }
  }

  private object(s: JsonSchema, path: string): TypeSpec {
    if (!s.properties) {
      const values = typeof s.additionalProperties === "object" ? s.additionalProperties : {};
      return { type: "object", additionalProperties: this.type(values, `${path}{}`) };
    }
    const name = TYPE_NAMES[path];
    if (!name) throw new Error(`${path}: an object type with no name in plugin/schema.ts TYPE_NAMES`);
    this.types[`${PACKAGE}:index:${name}`] = {
      type: "object",
      ...(s.description ? { description: s.description } : {}),
      properties: this.properties(s, path),
      ...(s.required?.length ? { required: s.required } : {}),
    };
    return ref(name);
  }

  properties(s: JsonSchema, path: string): Record<string, PropertySpec> {
    return Object.fromEntries(
      Object.entries(s.properties ?? {}).map(([k, v]) => [k, this.property(v, path ? `${path}.${k}` : k)]),
    );
  }
}

function dedupe(types: TypeSpec[]): TypeSpec[] {
  const seen = new Map(types.map((t) => [JSON.stringify(t), t]));
  return [...seen.values()];
}

const LINK_STATUS: ObjectTypeSpec = {
  type: "object",
  description: "One uplink's live state, as `lbgw status` shows it.",
  properties: {
    interface: { type: "string" },
    up: { type: "boolean", description: "Up, down, or absent when it cannot be told." },
    since: { type: "string", description: "When the link last changed state (ISO 8601), when known." },
    lastProbe: { type: "string", description: '"ok" or "failed"; absent before the first probe.' },
    connections: { type: "integer", description: "Tracked connections leaving by the link." },
    stickyUsers: { type: "integer", description: "Users held on the link by persistence." },
    source: { type: "string", description: 'Where up/down came from: "prober", "netwatch" or "route".' },
    readAt: { type: "string", description: "When the status was read (ISO 8601)." },
  },
};

/** What the resource adds to its arguments (provider/index.ts Outputs). */
const OUTPUTS: Record<string, PropertySpec> = {
  rules: {
    type: "object",
    additionalProperties: { type: "string" },
    description: "The objects this resource owns on the device, keyed by identity, each as one line.",
  },
  device: { type: "string", description: 'The device managed, e.g. "routeros://192.0.2.1:8728".' },
  ownedEntries: { type: "integer", description: "How many objects this resource owns on the device." },
  instance: {
    type: "string",
    description: "This resource instance's id in the owner's claim on the device.",
  },
  linkStatus: {
    type: "object",
    additionalProperties: ref("LinkStatus"),
    description: "The uplinks' live state by link name, as read by the last refresh. Never causes a diff.",
  },
};

export interface ResourceSpec {
  description: string;
  inputProperties: Record<string, PropertySpec>;
  requiredInputs: string[];
  properties: Record<string, PropertySpec>;
  required: string[];
}
export interface PackageSchema {
  name: string;
  version: string;
  resources: Record<string, ResourceSpec>;
  types: Record<string, ObjectTypeSpec>;
  [key: string]: unknown;
}

export function pulumiSchema(): PackageSchema {
  const json = z.toJSONSchema(SpecSchema, { io: "input" }) as JsonSchema;
  const converter = new Converter();
  const inputs = Object.fromEntries(
    Object.entries(converter.properties(json, ""))
      .filter(([k]) => !HIDDEN_ARGUMENTS.has(k))
      .map(([k, v]) => [k, SECRET_ARGUMENTS.has(k) ? { ...v, secret: true } : v]),
  );
  // `owner` defaults to the resource's name (plugin/provider.ts), so a program need not give it.
  const requiredInputs = (json.required ?? []).filter((k) => k !== "owner" && !HIDDEN_ARGUMENTS.has(k));
  return {
    name: PACKAGE,
    displayName: "Load-balanced gateway",
    version: VERSION,
    description:
      "Multi-uplink load-balanced gateways on MikroTik RouterOS and Linux (nftables + iproute2): weights, " +
      "per-user persistence, health checks and failover, as one resource.",
    keywords: ["pulumi", "routeros", "mikrotik", "nftables", "load-balancing", "category/network"],
    license: "Apache-2.0",
    language: {
      python: { packageName: "pulumi_lbgw", requires: { pulumi: ">=3.0.0,<4.0.0" } },
      go: { importBasePath: "example.com/lbgw/sdk/go/lbgw", generateResourceContainerTypes: false },
      csharp: { rootNamespace: "Lbgw", packageReferences: { Pulumi: "3.*" } },
    },
    config: {},
    provider: {
      description: "The lbgw provider. It takes no configuration: each resource names its device.",
    },
    resources: {
      [RESOURCE]: {
        description:
          "A multi-uplink gateway: a router's LAN side, two or more weighted uplinks, a balancing strategy, " +
          "per-user persistence and health checks, applied to one RouterOS or Linux device.",
        inputProperties: inputs,
        requiredInputs,
        properties: { ...inputs, ...OUTPUTS },
        required: [...new Set([...requiredInputs, "owner", "rules", "device", "ownedEntries", "instance"])],
      },
    },
    types: { ...converter.types, [`${PACKAGE}:index:LinkStatus`]: LINK_STATUS },
  };
}

/** `npm run schema`: rewrite schema.json beside this file. */
if (require.main === module) {
  const file = path.join(__dirname, "schema.json");
  fs.writeFileSync(file, `${JSON.stringify(pulumiSchema(), null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}
