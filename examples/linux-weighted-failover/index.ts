/**
 * A Linux gateway balancing its LAN over two uplinks 3:1 with failover (seed 003, fixed): see gateway.ts.
 *
 *   pulumi config set gatewayHost 192.0.2.10
 *   pulumi config set gatewayHostKey "ssh-ed25519 AAAA..."      # or "SHA256:..." from ssh-keygen -lf
 *   pulumi config set --secret privateKey "$(cat ~/.ssh/id_ed25519)"
 *   pulumi up
 *
 * Credentials come from config secrets and stay encrypted in the state (the whole target is a secret).
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadBalancedGateway, linuxTargetFromConfig } from "pulumi-loadbalanced-gateway";
import { weightedFailover } from "./gateway";

const config = new pulumi.Config();

const gateway = new LoadBalancedGateway("gw", {
  target: linuxTargetFromConfig(config),
  ...weightedFailover({
    lanInterface: config.get("lanInterface") ?? "lan0",
    lanNetwork: config.get("lanNetwork") ?? "192.168.0.0/24",
    uplinks: [
      {
        interface: config.get("link1Interface") ?? "wan1",
        gateway: config.get("link1Gateway") ?? "10.111.0.1",
        probeTarget: config.get("link1ProbeTarget") ?? "203.0.113.1",
      },
      {
        interface: config.get("link2Interface") ?? "wan2",
        gateway: config.get("link2Gateway") ?? "10.112.0.1",
        probeTarget: config.get("link2ProbeTarget") ?? "203.0.113.2",
      },
    ],
    sticky: config.getBoolean("sticky") ? { timeout: "1d" } : false,
    weights: [config.getNumber("link1Weight") ?? 3, config.getNumber("link2Weight") ?? 1],
  }),
});

export const device = gateway.device;
export const ownedEntries = gateway.ownedEntries;
