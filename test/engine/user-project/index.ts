/**
 * A user's own Pulumi program, run by test/engine/lifecycle.test.ts from a project outside the repository
 * that installs the packed package. Its config turns on the situations the life-cycle tests need:
 *
 *   routerHost, routerPort, routerPassword   the router (routerOsTargetFromConfig)
 *   tlsPort                                  reach it through api-ssl on this port instead
 *   ispGateway                               wlan1's gateway, as the output of another resource ("isp"):
 *                                            changing it replaces "isp", so the value is unknown in preview
 *   wlan1Interface, wlan2Gateway             values the router may not have (preflight)
 *   twin                                     a second resource with the same owner in this stack
 *   secondOwner                              a second resource with its own owner on the same router
 */
import * as pulumi from "@pulumi/pulumi";
import {
  LoadBalancedGateway,
  routerOsTargetFromConfig,
  type LoadBalancedGatewayArgs,
} from "pulumi-loadbalanced-gateway";

const config = new pulumi.Config();

/** Stands for any resource whose output feeds the gateway (a VPN, a DHCP lease): replaced when it changes. */
class IspProvider implements pulumi.dynamic.ResourceProvider {
  async create(inputs: { gateway: string }) {
    return { id: `isp-${inputs.gateway}`, outs: { gateway: inputs.gateway } };
  }
  async diff(_id: string, olds: { gateway: string }, news: { gateway: string }) {
    const changed = olds.gateway !== news.gateway;
    return { changes: changed, replaces: changed ? ["gateway"] : [] };
  }
}

class Isp extends pulumi.dynamic.Resource {
  declare readonly gateway: pulumi.Output<string>;
  constructor(name: string, gateway: string) {
    super(new IspProvider(), name, { gateway }, {});
  }
}

const isp = new Isp("isp", config.get("ispGateway") ?? "10.112.0.1");

const base = routerOsTargetFromConfig(config);
const tlsPort = config.getNumber("tlsPort");
const target = tlsPort ? { routeros: { ...base.routeros, port: tlsPort, tls: { insecure: true } } } : base;

const args: LoadBalancedGatewayArgs = {
  target,
  lan: { interfaces: ["Local"], networks: ["192.168.0.0/24"] },
  links: [
    {
      name: "wlan1",
      interface: config.get("wlan1Interface") ?? "wlan1",
      gateway: isp.gateway, // an Output<string>: every nested argument takes Input<>
      check: { targets: ["198.51.100.1"] },
    },
    {
      name: "wlan2",
      interface: "wlan2",
      gateway: config.get("wlan2Gateway") ?? "10.111.0.1",
      check: { targets: ["198.51.100.2"] },
    },
  ],
  strategy: "nth",
  sticky: { timeout: "1d" },
};

const gateway = new LoadBalancedGateway("office", args);
if (config.getBoolean("twin")) new LoadBalancedGateway("office-copy", { ...args, owner: "office" });
if (config.getBoolean("secondOwner")) new LoadBalancedGateway("branch", args);

export const device = gateway.device;
export const ownedEntries = gateway.ownedEntries;
export const instance = gateway.instance;
