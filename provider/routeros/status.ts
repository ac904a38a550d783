/**
 * Live link status of a RouterOS gateway, read-only, in one pipelined round of prints:
 *
 * - up/down: the failover's decision, i.e. whether any of the link's own default routes (in its own
 *   table, comment `lbgw:<owner>:route:<link>:<link>:<j>`, which its netwatch scripts disable and enable)
 *   is `active`;
 * - last probe and since: `status` / `since` of the link's owned netwatch probes (comment
 *   `lbgw:<owner>:watch:<link>:<j>`); without any, the route's activity alone (`source: "route"`);
 * - connections: `/ip/firewall/connection/print =count-only= ?connection-mark=<mark>` (RouterOS API: a
 *   print argument without value, `!done =ret=N`), less those in `tcp-state` time-wait or close and the
 *   router's own netwatch pings (icmp to a check target, which the egress chain binds to the link too);
 * - sticky users: `count-only` of the dynamic entries of the link's sticky address list (netwatch.ts's
 *   stickyListOf: links without one show none).
 */
import type { GatewayStatus, LinkStatus } from "../common/status";
import type { Plan, PlanLink } from "../plan/plan";
import type { RouterOsDevice } from "./backend";
import { deviceName } from "./backend";
import { routeKey, stickyListOf, watchKey } from "./netwatch";
import { ownershipPrefix } from "./render";
import type { RosItem } from "./session";
import { RosSession } from "./session";

const CONNECTION = "/ip/firewall/connection/print";

/** The count prints of one link: total, then what is subtracted from it. */
function countQueries(l: PlanLink): string[][] {
  const mark = `?connection-mark=${l.mark}`;
  return [
    [CONNECTION, "=count-only=", mark],
    [CONNECTION, "=count-only=", mark, "?tcp-state=time-wait"],
    [CONNECTION, "=count-only=", mark, "?tcp-state=close"],
    ...l.check.targets.map((t) => [CONNECTION, "=count-only=", mark, "?protocol=icmp", `?dst-address=${t}`]),
  ];
}

/** netwatch `since`: "2026-12-07 20:26:14" (7.x) or "dec/07/2026 20:26:14" (6.x), router time → ISO 8601. */
export function rosSince(text: string | undefined): string | null {
  if (!text) return null;
  let m = /^(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d)$/.exec(text);
  if (m) return `${m[1]}-${m[2]}-${m[3]}T${m[4]}`;
  m = /^([a-z]{3})\/(\d\d)\/(\d{4}) (\d\d:\d\d:\d\d)$/i.exec(text);
  const months = "janfebmaraprmayjunjulaugsepoctnovdec";
  if (m && months.includes(m[1].toLowerCase())) {
    const month = String(months.indexOf(m[1].toLowerCase()) / 3 + 1).padStart(2, "0");
    return `${m[3]}-${month}-${m[2]}T${m[4]}`;
  }
  return null;
}

/** The prints' results → status (pure). */
export function routerOsStatus(
  plan: Plan,
  device: string,
  routes: RosItem[],
  netwatch: RosItem[],
  counts: Map<string, number[]>,
  sticky: Map<string, number>,
  readAt: string,
): GatewayStatus {
  const prefix = ownershipPrefix(plan.owner);
  const links: LinkStatus[] = plan.links.map((l) => {
    const own = l.check.targets.map((_t, j) => `${prefix}${routeKey(l.name, l.name, j)}`);
    const ownRoutes = routes.filter((r) => own.includes(r.comment ?? ""));
    const watches = l.check.targets
      .map((_t, j) => netwatch.find((n) => n.comment === `${prefix}${watchKey(l.name, j)}`))
      .filter((n): n is RosItem => n !== undefined);
    const statuses = watches.map((w) => w.status);
    const lastProbe = statuses.includes("up")
      ? "ok"
      : statuses.length > 0 && statuses.every((s) => s === "down")
        ? "failed"
        : null;
    const since = watches
      .map((w) => rosSince(w.since))
      .filter((s): s is string => s !== null)
      .sort()
      .pop();
    const up = ownRoutes.length
      ? ownRoutes.some((r) => r.active === "true")
      : lastProbe === null
        ? null
        : lastProbe === "ok";
    const [total, ...minus] = counts.get(l.name) ?? [];
    return {
      link: l.name,
      interface: l.interface,
      up,
      since: since ?? null,
      lastProbe,
      connections: total === undefined ? null : Math.max(0, total - minus.reduce((a, b) => a + b, 0)),
      stickyUsers: stickyListOf(plan, l) === undefined ? null : (sticky.get(l.name) ?? 0),
      source: watches.length ? "netwatch" : "route",
    };
  });
  return { device, owner: plan.owner, readAt, links, notes: [] };
}

/** Reads the status over one API session; only prints. */
export async function readRouterOsStatus(d: RouterOsDevice, plan: Plan): Promise<GatewayStatus> {
  const session = await RosSession.open(d);
  try {
    const routes = session.command(["/ip/route/print", "=.proplist=comment,active,disabled", "?comment"]);
    const netwatch = session.command(["/tool/netwatch/print", "=.proplist=comment,host,status,since"]);
    const counts = plan.links.map((l) =>
      Promise.all(countQueries(l).map((q) => session.command(q).then((r) => Number(r[0]?.ret ?? 0)))),
    );
    const sticky = plan.links.map((l) => {
      const list = stickyListOf(plan, l);
      return list === undefined
        ? Promise.resolve(0)
        : session
            .command(["/ip/firewall/address-list/print", "=count-only=", `?list=${list}`, "?dynamic=true"])
            .then((r) => Number(r[0]?.ret ?? 0));
    });
    const [r, n, c, s] = await Promise.all([routes, netwatch, Promise.all(counts), Promise.all(sticky)]);
    return routerOsStatus(
      plan,
      deviceName(d),
      r,
      n,
      new Map(plan.links.map((l, i) => [l.name, c[i]])),
      new Map(plan.links.map((l, i) => [l.name, s[i]])),
      new Date().toISOString(),
    );
  } finally {
    await session.close();
  }
}
