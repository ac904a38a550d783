/**
 * The repository itself as a Pulumi project (Pulumi.yaml at the root): one LoadBalancedGateway from the
 * stack's configuration, so that a network engineer can run it without writing a program.
 *
 * The arguments, without the target, come from a spec file (the same files `lbgw render` reads) or from
 * structured configuration:
 *   pulumi config set specFile examples/routeros-nth-sticky/spec.yaml
 *   pulumi config set --path 'gateway.links[0].name' isp1 ...            (instead of specFile)
 * The device, as in the examples: routerHost, routerPort, routerUser, routerPassword (secret), rosVersion for
 * RouterOS; or gatewayHost, gatewayPort, gatewayUser, privateKey (secret), gatewayHostKey, sudo for Linux.
 * `name` is the resource's name (default "gateway"), which is also its owner tag unless the spec sets one.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readSpecFile } from "../cli/lbgw";
import { LoadBalancedGateway, linuxTargetFromConfig, routerOsTargetFromConfig } from "../sdk/index";
import type { LoadBalancedGatewayArgs } from "../sdk/index";

/** The project's directory (Pulumi.yaml's), which relative paths in the configuration start from. */
const projectDir = path.resolve(__dirname, "../..");

const config = new pulumi.Config();
const specFile = config.get("specFile");
const args = specFile
  ? readSpecFile(path.resolve(projectDir, specFile))
  : config.requireObject<Record<string, unknown>>("gateway");
const target = config.get("routerHost") ? routerOsTargetFromConfig(config) : linuxTargetFromConfig(config);

const gateway = new LoadBalancedGateway(config.get("name") ?? "gateway", {
  ...(args as Omit<LoadBalancedGatewayArgs, "target">),
  target,
});

export const device = gateway.device;
export const ownedEntries = gateway.ownedEntries;
