/**
 * A fleet of sites driven by Pulumi's Automation API: one stack per site, all run in parallel.
 *
 *   npm install
 *   npx tsx fleet.ts up sites.json        # or: preview, destroy
 *
 * sites.json lists the sites: [{ "name": "paris", "host": "192.0.2.1", "password": "...",
 *   "lan": { "interfaces": ["bridge-lan"], "networks": ["192.168.0.0/24"] }, "links": [...] }, ...]
 * (in real use, take the passwords from your secret store: they go into each stack's config as secrets).
 *
 * The program is inline (the function below) but the workspace still needs `workDir`: the engine starts
 * the dynamic provider in `workDir`, which must find @pulumi/pulumi and this package in its node_modules.
 * Without it the workspace is a fresh temporary folder and every deployment fails with "Cannot find
 * module '@pulumi/pulumi/cmd/dynamic-provider'". `workDir` is this folder (its Pulumi.yaml names the
 * project); each site's stack config is written beside it.
 */
import * as fs from "node:fs";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import {
  LoadBalancedGateway,
  routerOsTargetFromConfig,
  type LoadBalancedGatewayArgs,
} from "pulumi-loadbalanced-gateway";

interface Site {
  /** The stack's name, and the resource's (so its owner tag on the router). */
  name: string;
  host: string;
  port?: number;
  username?: string;
  password: string;
  version?: 6 | 7;
  lan: LoadBalancedGatewayArgs["lan"];
  links: LoadBalancedGatewayArgs["links"];
}

function program(site: Site) {
  return async () => {
    const gateway = new LoadBalancedGateway(site.name, {
      target: routerOsTargetFromConfig(),
      lan: site.lan,
      links: site.links,
      strategy: "nth",
    });
    return { device: gateway.device, ownedEntries: gateway.ownedEntries };
  };
}

async function stackOf(site: Site): Promise<Stack> {
  const stack = await LocalWorkspace.createOrSelectStack(
    { projectName: "lbgw-fleet", stackName: site.name, program: program(site) },
    { workDir: __dirname },
  );
  await stack.setAllConfig({
    routerHost: { value: site.host },
    routerUser: { value: site.username ?? "admin" },
    routerPassword: { value: site.password, secret: true },
    rosVersion: { value: String(site.version ?? 7) },
    ...(site.port ? { routerPort: { value: String(site.port) } } : {}),
  });
  return stack;
}

async function main(): Promise<void> {
  const [action, file] = process.argv.slice(2);
  if (!["up", "preview", "destroy"].includes(action) || !file) {
    console.error("usage: tsx fleet.ts up|preview|destroy sites.json");
    process.exit(2);
  }
  const sites = JSON.parse(fs.readFileSync(file, "utf8")) as Site[];
  // Stacks are set up one after another (they share this folder's Pulumi.yaml), then run in parallel.
  const stacks: Stack[] = [];
  for (const site of sites) stacks.push(await stackOf(site));
  const results = await Promise.allSettled(
    stacks.map(async (stack) => {
      if (action === "preview") return `${(await stack.preview()).changeSummary.create ?? 0} to create`;
      if (action === "destroy") {
        await stack.destroy();
        return "destroyed";
      }
      const up = await stack.up();
      return `${up.summary.result}, ${up.outputs.ownedEntries.value as number} owned entries on ${up.outputs.device.value as string}`;
    }),
  );
  let failed = 0;
  results.forEach((r, i) => {
    if (r.status === "fulfilled") console.log(`${sites[i].name}: ${r.value}`);
    else {
      failed++;
      console.log(
        `${sites[i].name}: FAILED: ${(r.reason as Error).message.split("\n").slice(-20).join("\n")}`,
      );
    }
  });
  process.exit(failed ? 1 : 0);
}

void main();
