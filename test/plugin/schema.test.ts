/**
 * The package schema has one source, the zod schema of the arguments: the committed plugin/schema.json is
 * what it generates, every argument is in it with its type, secrets are marked, and the SDKs generated
 * from it (scripts/gen-sdks.sh, run by `npm test`'s setup) carry every argument and build.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { PACKAGE, RESOURCE, pulumiSchema, type PropertySpec } from "../../plugin/schema";
import { LoadBalancedGatewayPlugin } from "../../plugin/provider";
import { SpecSchema } from "../../provider/spec/schema";

const REPO = path.resolve(__dirname, "../..");
const schema = pulumiSchema();
const resource = schema.resources[RESOURCE];

/** A property's type with its $ref resolved to the object type's properties. */
function propertiesOf(p: PropertySpec): Record<string, PropertySpec> | undefined {
  const ref = p.$ref ?? p.items?.$ref ?? p.oneOf?.find((o) => o.$ref)?.$ref;
  return ref ? schema.types[ref.replace("#/types/", "")]?.properties : undefined;
}

type Json = { properties?: Record<string, Json>; items?: Json; anyOf?: Json[]; type?: string };

/** Every argument path of the zod schema ("links[].check.targets"), from its JSON Schema. */
function zodPaths(s: Json, prefix = ""): string[] {
  const objects = [s, s.items, ...(s.anyOf ?? [])].filter((x): x is Json => !!x?.properties);
  return objects.flatMap((o) =>
    Object.entries(o.properties ?? {}).flatMap(([k, v]) => {
      const here = `${prefix}${k}${v.type === "array" ? "[]" : ""}`;
      return [here, ...zodPaths(v.items ?? v, `${here}.`)];
    }),
  );
}

/** Every argument path of the package schema, the same way. */
function schemaPaths(props: Record<string, PropertySpec>, prefix = ""): string[] {
  return Object.entries(props).flatMap(([k, v]) => {
    const here = `${prefix}${k}${v.type === "array" ? "[]" : ""}`;
    const inner = propertiesOf(v);
    return [here, ...(inner ? schemaPaths(inner, `${here}.`) : [])];
  });
}

test("plugin/schema.json is what the zod schema generates (`npm run schema` rewrites it)", () => {
  const committed = JSON.parse(fs.readFileSync(path.join(REPO, "plugin/schema.json"), "utf8")) as unknown;
  expect(committed).toEqual(JSON.parse(JSON.stringify(schema)));
});

test("every argument of the zod schema is an input of the package schema, and nothing else is", () => {
  const fromZod = zodPaths(z.toJSONSchema(SpecSchema, { io: "input" }) as Json).sort();
  expect(schemaPaths(resource.inputProperties).sort()).toEqual(fromZod);
  expect(fromZod).toEqual(
    expect.arrayContaining(["links[].check.failAfter", "target.routeros.tls", "pins[].link"]),
  );
});

test("types: integers, unions, lists; the target (credentials) is secret; owner is optional (the resource name)", () => {
  const link = schema.types[`${PACKAGE}:index:Link`].properties;
  expect(link.weight.type).toBe("integer");
  expect(link.nat.oneOf).toEqual([{ type: "string" }, { $ref: `#/types/${PACKAGE}:index:SourceNat` }]);
  expect(resource.inputProperties.sticky.oneOf).toEqual([
    { type: "boolean" },
    { $ref: `#/types/${PACKAGE}:index:Sticky` },
  ]);
  expect(schema.types[`${PACKAGE}:index:RouterOsTarget`].properties.version.type).toBe("integer");
  expect(resource.inputProperties.target.secret).toBe(true);
  expect(resource.properties.target.secret).toBe(true);
  expect([...resource.requiredInputs].sort()).toEqual(["lan", "links", "target"]);
  expect(Object.keys(resource.properties)).toEqual(
    expect.arrayContaining(["rules", "device", "ownedEntries", "instance", "linkStatus"]),
  );
});

test("the plugin serves that schema, at the package's version", () => {
  const plugin = new LoadBalancedGatewayPlugin();
  expect(JSON.parse(plugin.schema)).toEqual(JSON.parse(JSON.stringify(schema)));
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string };
  expect(plugin.version).toBe(pkg.version);
  expect(schema.version).toBe(pkg.version);
});

describe("the generated SDKs (dist/sdks, made by scripts/gen-sdks.sh in npm test's setup)", () => {
  const sdks = path.join(REPO, "dist/sdks");
  beforeAll(() => {
    if (!fs.existsSync(path.join(sdks, "python")) || !fs.existsSync(path.join(sdks, "go")))
      throw new Error("dist/sdks is missing: run `bash scripts/setup.sh --pulumi` (npm test does)");
  });

  test("Python: an argument for every input, the target marked secret", () => {
    const py = fs.readFileSync(path.join(sdks, "python/pulumi_lbgw/load_balanced_gateway.py"), "utf8");
    const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const k of Object.keys(resource.inputProperties)) expect(py).toMatch(new RegExp(`\\b${snake(k)}: `));
    expect(py).toContain('additional_secret_outputs=["target"]');
  });

  test(
    "Go: the package builds against the Pulumi Go SDK",
    () => {
      execFileSync("go", ["build", "./..."], {
        cwd: path.join(sdks, "go"),
        env: { ...process.env, GOFLAGS: "-mod=mod", CGO_ENABLED: "0" },
        stdio: "pipe",
        timeout: 10 * 60_000,
      });
      const go = fs.readFileSync(path.join(sdks, "go/lbgw/loadBalancedGateway.go"), "utf8");
      expect(go).toContain("func NewLoadBalancedGateway(");
    },
    10 * 60_000,
  );
});
