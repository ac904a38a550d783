/**
 * Pulumi runs resource operations concurrently in one provider process; two resources on the same device
 * (or a replace's create and delete) must not interleave their reads and writes. One queue per device key.
 */
const queues = new Map<string, Promise<unknown>>();

export async function withDeviceLock<T>(key: string, work: () => Promise<T>): Promise<T> {
  const before = queues.get(key) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(work);
  queues.set(key, run);
  try {
    return await run;
  } finally {
    if (queues.get(key) === run) queues.delete(key);
  }
}

/** Logging hook: the provider routes these lines to Pulumi's log so `pulumi up` shows progress. */
export type Logger = (message: string) => void;

export const silent: Logger = () => undefined;
