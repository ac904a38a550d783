/**
 * node-routeros 1.6.9 connected to a simulator, with what tests need around its defects
 * (routeros.md "known defects"): an 'error' listener (else an idle timeout or a reset crashes the process),
 * a record of 'close'/'error' events, and a close() that also clears the library's private keepalive timers,
 * which it leaves armed when the server closed the connection first.
 */
import { RouterOSAPI } from "node-routeros";
import type { RouterOsSim } from "./server";

export interface NodeRouterosClient {
  api: RouterOSAPI;
  /** 'error' events received (RosException instances). */
  errors: Error[];
  /** Number of 'close' events received. */
  closes: () => number;
  /** Resolves at the first 'close' event. */
  closed: Promise<void>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  user?: string;
  password?: string;
  /** node-routeros `timeout`: seconds of socket idleness before it gives up (default 10). */
  timeout?: number;
  keepalive?: boolean;
  tls?: boolean;
  /**
   * Disable Nagle on the client socket. node-routeros writes each word separately, so on Linux every
   * sequential command waits ~40 ms for a delayed ACK (measured: 45 ms/command; 0.8 ms with this set).
   * Off by default, to behave like the library as it is.
   */
  noDelay?: boolean;
}

/** Connect and log in; rejects like RouterOSAPI.connect() (e.g. RosException CANTLOGIN). */
export async function connectNodeRouteros(
  sim: RouterOsSim,
  opts: ConnectOptions = {},
): Promise<NodeRouterosClient> {
  const api = new RouterOSAPI({
    host: sim.host,
    port: sim.port,
    user: opts.user ?? "admin",
    password: opts.password ?? "",
    timeout: opts.timeout,
    keepalive: opts.keepalive,
    // node-routeros keeps port 8728 for TLS unless given one (routeros.md); the simulator's cert is self-signed.
    tls: opts.tls ? { rejectUnauthorized: false } : undefined,
  });
  const errors: Error[] = [];
  let closes = 0;
  api.on("error", (e: Error) => errors.push(e));
  const closed = new Promise<void>((resolve) =>
    api.on("close", () => {
      closes++;
      resolve();
    }),
  );
  await api.connect();
  if (opts.noDelay)
    (
      api as unknown as { connector: { socket: { setNoDelay(on: boolean): void } } }
    ).connector.socket.setNoDelay(true);
  return {
    api,
    errors,
    closes: () => closes,
    closed,
    async close() {
      if (api.connected && !api.closing) await api.close();
      const internals = api as unknown as {
        connectionHoldInterval?: NodeJS.Timeout;
        keptaliveby?: NodeJS.Timeout;
      };
      clearTimeout(internals.connectionHoldInterval);
      clearTimeout(internals.keptaliveby);
    },
  };
}
