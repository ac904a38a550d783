/**
 * Seed 003 ("Links load balancing", netfilter + iproute2) as LoadBalancedGateway arguments, with its
 * mistakes fixed: link 1 carries 3 of every 4 new connections and link 2 one (an nft `numgen` slot map
 * instead of four iptables nth counters), a connection keeps its link (ct mark), each link's traffic is
 * NATed to *its own* address, a link that is down hands its slots to the other one (the prober does
 * what the seed's `condition` flag left to someone else), and LAN, router and gateway destinations are
 * never balanced. Plain data, so the tests apply exactly these arguments to the namespace lab.
 */
export interface UplinkSite {
  /** Interface of the uplink on the gateway, e.g. "wan1". */
  interface: string;
  /** The ISP router on that link. */
  gateway: string;
  /** An address beyond the ISP router, probed through this link. */
  probeTarget: string;
}

export interface Site {
  lanInterface: string;
  lanNetwork: string;
  /** Link 1 (weight 3) and link 2 (weight 1). */
  uplinks: [UplinkSite, UplinkSite];
  /** Keep each user on the link of its first connection. Seed 003 does not; default false. */
  sticky?: false | { timeout: string };
  /** Weights of link 1 and link 2; seed 003's 3:1 by default. */
  weights?: [number, number];
}

export function weightedFailover(site: Site) {
  const link = (name: string, u: UplinkSite, weight: number) => ({
    name,
    interface: u.interface,
    gateway: u.gateway,
    weight,
    nat: "masquerade" as const,
    // Down after 3 failed rounds (~1.2 s), up again after 5 good ones.
    check: { targets: [u.probeTarget], interval: "200ms", timeout: "200ms", failAfter: 3, recoverAfter: 5 },
  });
  return {
    lan: { interfaces: [site.lanInterface], networks: [site.lanNetwork] },
    links: [
      link("link1", site.uplinks[0], site.weights?.[0] ?? 3),
      link("link2", site.uplinks[1], site.weights?.[1] ?? 1),
    ],
    strategy: "nth" as const,
    sticky: site.sticky ?? false,
    routerTraffic: "link1",
    inboundSymmetry: true,
  };
}
