/**
 * Seeds 000/001 ("NTH load balancing with masquerade", persistent per-user sessions), with their mistakes
 * fixed: a user is in one sticky list only, traffic to the LAN and to the router is never balanced, and
 * each uplink's table falls back to the other uplink when its probe target stops answering.
 *
 *   pulumi config set routerHost 192.0.2.1
 *   pulumi config set --secret routerPassword ...
 *   pulumi up
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadBalancedGateway, routerOsTargetFromConfig } from "pulumi-loadbalanced-gateway";

const config = new pulumi.Config();

const gateway = new LoadBalancedGateway("office", {
  target: routerOsTargetFromConfig(config),
  lan: { interfaces: ["Local"], networks: ["192.168.0.0/24"] },
  links: [
    {
      name: "wlan1",
      interface: "wlan1",
      gateway: "10.112.0.1",
      weight: config.getNumber("wlan1Weight") ?? 1,
      check: { targets: ["198.51.100.1"] },
    },
    {
      name: "wlan2",
      interface: "wlan2",
      gateway: "10.111.0.1",
      weight: 1,
      // seed 000 pins the source address instead of masquerading
      nat: { srcNat: "10.111.0.2" },
      check: { targets: ["198.51.100.2"] },
    },
  ],
  strategy: "nth",
  sticky: { timeout: "1d" },
  // seed 001: the router's own traffic leaves by wlan1 (10.112.0.1), wlan2 when it is down
  routerTraffic: "wlan1",
});

export const device = gateway.device;
export const ownedEntries = gateway.ownedEntries;
