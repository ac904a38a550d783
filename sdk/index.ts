/**
 * What Pulumi programs import: the LoadBalancedGateway resource.
 *
 * The provider object below is serialised into the stack state by Pulumi. It stays thin on purpose: each
 * method loads the real implementation by package name at run time, so the state holds no code of ours,
 * no client instance and no credentials (those travel as secret inputs).
 */
import * as pulumi from "@pulumi/pulumi";
import type { LinkStatus } from "../provider/common/status";
import type { CheckSchema, LinkSchema, PCC_HASHES } from "../provider/spec/schema";
import type { z } from "zod";

type In<T> = pulumi.Input<T>;

export interface RouterOsTargetArgs {
  /** Address or DNS name of the router's API service. */
  host: In<string>;
  /** API port. Default 8728, or 8729 with `tls`. */
  port?: In<number>;
  username: In<string>;
  password: In<string>;
  /** API over TLS (api-ssl): verify against `ca` (PEM), or `insecure: true` to skip verification. */
  tls?: In<false | { ca?: string; insecure?: boolean; servername?: string }>;
  /** RouterOS major version: 6 or 7. Default 7. */
  version?: In<6 | 7>;
  /** Timeout of each API command, e.g. "10s". Default "10s". */
  timeout?: In<string>;
}

export interface LinuxTargetArgs {
  host: In<string>;
  /** SSH port. Default 22. */
  port?: In<number>;
  /** SSH user. Default "root"; other users need `sudo: true`. */
  user?: In<string>;
  password?: In<string>;
  privateKey?: In<string>;
  privateKeyPassword?: In<string>;
  agentSocketPath?: In<string>;
  /** The gateway's host key ("ssh-ed25519 AAAA...") or "SHA256:..." fingerprint. A mismatch refuses. */
  hostKey: In<string>;
  sudo?: In<boolean>;
  timeout?: In<string>;
}

/**
 * `T` with every nested value an `Input<>` too, so that any part of an argument may come from another
 * resource (e.g. `gateway: isp.gateway`).
 */
export type DeepInput<T> = T extends readonly (infer U)[]
  ? In<DeepInput<U>[]>
  : T extends object
    ? In<{ [K in keyof T]: DeepInput<T[K]> }>
    : In<T>;

type Fields<T> = { [K in keyof T]: DeepInput<T[K]> };

export type LinkArgs = Fields<z.input<typeof LinkSchema>>;
export type CheckArgs = Fields<z.input<typeof CheckSchema>>;

export interface LoadBalancedGatewayArgs {
  /** Exactly one of `routeros` or `linux`. The whole target is stored as a secret. */
  target: In<{ routeros?: RouterOsTargetArgs; linux?: LinuxTargetArgs }>;
  /** The LAN side: its interfaces and networks. Traffic to them is never balanced. */
  lan: DeepInput<{ interfaces: string[]; networks: string[] }>;
  /** Two to sixteen uplinks. */
  links: In<In<LinkArgs>[]>;
  /** "nth" (weighted round robin of new connections, default), "pcc" (hash) or "ecmp" (route level). */
  strategy?: In<"nth" | "pcc" | "ecmp">;
  /** pcc only: what the classifier hashes. Default "both-addresses". */
  hash?: In<(typeof PCC_HASHES)[number]>;
  /** nth only: keep each user on the link of its first connection for `timeout`. Default false. */
  sticky?: In<false | { timeout: string }>;
  /** The link that carries the router's own traffic (with failover). Default: the first best-tier link. */
  routerTraffic?: In<string>;
  /** Replies to connections that came in on an uplink leave by it. Default true. */
  inboundSymmetry?: In<boolean>;
  /** Destinations always sent through one link (e.g. an ISP's own DNS servers). */
  pins?: DeepInput<{ destination: string; link: string }[]>;
  /** Destinations never balanced (left to the main routing table). */
  bypass?: In<In<string>[]>;
  /** Tag written into every owned entry. Default: the resource name (other characters become "_"). */
  owner?: In<string>;
  /**
   * At create, take over this owner's configuration on the device although another resource or stack holds
   * it (or none does). Without it such a create is refused before any write. Default false.
   */
  adopt?: In<boolean>;
}

/**
 * The target of the examples, from the stack's config, so a program needs no code of its own for it:
 * `routerHost`, `routerPort`, `routerUser` (default "admin"), `routerPassword` (secret), `rosVersion`
 * (6 or 7, default 7). Values are checked by the resource like any other argument.
 */
export function routerOsTargetFromConfig(config: pulumi.Config = new pulumi.Config()): {
  routeros: RouterOsTargetArgs;
} {
  return {
    routeros: {
      host: config.require("routerHost"),
      port: config.getNumber("routerPort"),
      username: config.get("routerUser") ?? "admin",
      password: config.requireSecret("routerPassword"),
      version: (config.getNumber("rosVersion") ?? 7) as 6 | 7,
    },
  };
}

/**
 * Same for a Linux gateway: `gatewayHost`, `gatewayPort` (default 22), `gatewayUser` (default "root"),
 * `privateKey` and `privateKeyPassword` (secrets), `gatewayHostKey`, `sudo` (default false).
 */
export function linuxTargetFromConfig(config: pulumi.Config = new pulumi.Config()): {
  linux: LinuxTargetArgs;
} {
  return {
    linux: {
      host: config.require("gatewayHost"),
      port: config.getNumber("gatewayPort") ?? 22,
      user: config.get("gatewayUser") ?? "root",
      privateKey: config.requireSecret("privateKey"),
      privateKeyPassword: config.getSecret("privateKeyPassword"),
      hostKey: config.require("gatewayHostKey"),
      sudo: config.getBoolean("sudo") ?? false,
    },
  };
}

/** Pulumi's dynamic-provider contract, delegating to the implementation loaded by package name. */
class Provider implements pulumi.dynamic.ResourceProvider {
  async check(olds: Record<string, unknown>, news: Record<string, unknown>) {
    return (await import("pulumi-loadbalanced-gateway/provider")).check(olds, news);
  }
  async diff(id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
    return (await import("pulumi-loadbalanced-gateway/provider")).diff(id, olds, news);
  }
  async create(inputs: Record<string, unknown>) {
    return (await import("pulumi-loadbalanced-gateway/provider")).create(inputs);
  }
  async read(id: string, props: Record<string, unknown>) {
    return (await import("pulumi-loadbalanced-gateway/provider")).read(id, props);
  }
  async update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
    return (await import("pulumi-loadbalanced-gateway/provider")).update(id, olds, news);
  }
  async delete(id: string, props: Record<string, unknown>) {
    return (await import("pulumi-loadbalanced-gateway/provider")).remove(id, props);
  }
}

/** A resource name as an owner tag: letters, digits and underscores, at most 24 characters. */
export function ownerFromName(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 24) || "lbgw";
}

export class LoadBalancedGateway extends pulumi.dynamic.Resource {
  /**
   * The objects this resource owns on the device after the last apply or refresh, keyed by identity
   * (e.g. "ip firewall mangle classify:1", "nft chain prerouting rule 03"), each as one line.
   */
  declare readonly rules: pulumi.Output<Record<string, string>>;
  /** How many objects this resource owns on the device. */
  declare readonly ownedEntries: pulumi.Output<number>;
  /** The device this resource manages, e.g. "routeros://192.0.2.1:8728". */
  declare readonly device: pulumi.Output<string>;
  /**
   * This resource instance's id in the claim of its owner on the device: another resource, or another
   * stack, cannot take the owner over (or delete its configuration) without `adopt: true`.
   */
  declare readonly instance: pulumi.Output<string>;
  /**
   * The uplinks' live state, by link name, as read by the last `pulumi refresh` (as `lbgw status` shows
   * it). Status, not configuration: it never causes a diff. Absent until a refresh.
   */
  declare readonly linkStatus: pulumi.Output<
    Record<string, Omit<LinkStatus, "link"> & { readAt: string }> | undefined
  >;

  constructor(name: string, args: LoadBalancedGatewayArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      new Provider(),
      name,
      {
        ...args,
        target: pulumi.secret(args.target),
        owner: args.owner ?? ownerFromName(name),
        // Who claims the owner on the device: a replace of this resource takes its claim over, nobody else.
        holder: `${pulumi.getProject()}/${pulumi.getStack()}/${name}`,
        rules: undefined,
        ownedEntries: undefined,
        device: undefined,
        instance: undefined,
        linkStatus: undefined,
      },
      opts,
      "lbgw",
      "LoadBalancedGateway",
    );
  }
}

export { Provider as LoadBalancedGatewayProvider };
