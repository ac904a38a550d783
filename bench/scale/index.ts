/**
 * Benchmark 5's program: one LoadBalancedGateway per simulator port (the seed 001 configuration), all in
 * one stack. The benchmark (bench/scale.ts) starts the simulators in its own process and sets the config:
 *
 *   ports     JSON list of the simulators' API ports on 127.0.0.1
 *   password  (secret) the simulators' API password
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadBalancedGateway } from "pulumi-loadbalanced-gateway";

const config = new pulumi.Config();
const ports = JSON.parse(config.require("ports")) as number[];
const password = config.requireSecret("password");

const gateways = ports.map(
  (port, i) =>
    new LoadBalancedGateway(`gw${i}`, {
      target: {
        routeros: { host: "127.0.0.1", port, username: "admin", password, version: 7, timeout: "30s" },
      },
      lan: { interfaces: ["Local"], networks: ["192.168.0.0/24"] },
      links: [
        { name: "wlan1", interface: "wlan1", gateway: "10.112.0.1", check: { targets: ["198.51.100.1"] } },
        { name: "wlan2", interface: "wlan2", gateway: "10.111.0.1", check: { targets: ["198.51.100.2"] } },
      ],
      strategy: "nth",
      sticky: { timeout: "1d" },
    }),
);

export const gatewayCount = gateways.length;
// `rules` is one entry per owned device entry (a list, or a map keyed by entry)
export const ownedEntries = pulumi
  .all(gateways.map((g) => g.rules as pulumi.Output<unknown>))
  .apply((all) =>
    all.reduce<number>(
      (n, r) => n + (Array.isArray(r) ? (r as unknown[]).length : Object.keys((r ?? {}) as object).length),
      0,
    ),
  );
