/**
 * Seed 002 ("ECMP load balancing with masquerade"), with its mistakes fixed: the gateways are checked
 * beyond the first hop (RouterOS 7: netwatch probes of the targets, in `check` timing; RouterOS 6: recursive
 * routes through the probe targets with check-gateway), replies to connections that came in on
 * an uplink leave by that uplink (the seed's input/output marks had wrong names and gateways), the ISP's
 * own DNS server is pinned to its uplink, and every connection is pinned to the uplink it left by, so the
 * route-cache flushes the seed warns about no longer move (and kill) established connections.
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadBalancedGateway, routerOsTargetFromConfig } from "pulumi-loadbalanced-gateway";

const config = new pulumi.Config();

const gateway = new LoadBalancedGateway("branch", {
  target: routerOsTargetFromConfig(config),
  lan: { interfaces: ["Local"], networks: ["192.168.0.0/24"] },
  links: [
    {
      name: "wlan1",
      interface: "wlan1",
      gateway: "10.112.0.1",
      // RouterOS 6 repeats a gateway once per weight unit; RouterOS 7 ECMP cannot weight (check refuses)
      weight: config.getNumber("wlan1Weight") ?? 1,
      check: { targets: ["198.51.100.1"] },
    },
    { name: "wlan2", interface: "wlan2", gateway: "10.111.0.1", check: { targets: ["198.51.100.2"] } },
  ],
  strategy: "ecmp",
  inboundSymmetry: true,
  // "DNS issues" in seed 002: the ISP's resolver answers only queries from its own network
  pins: [{ destination: "203.0.113.53", link: "wlan2" }],
});

export const device = gateway.device;
export const ownedEntries = gateway.ownedEntries;
