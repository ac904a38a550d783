/**
 * What the demo must undo, in reverse order, whatever happens: on success, on an error and on Ctrl-C
 * (SIGINT, SIGTERM, SIGHUP).
 *
 * Each step gets `hard`: false on the normal path and after an error, true after a signal. After a signal a
 * step still undoes things properly when it can do so quickly (the stack is destroyed with `pulumi destroy`
 * unless a CLI command had to be stopped); a second signal (`forced`) stops that too, and what is left goes
 * the blunt way: the lab with its namespaces, the stack with its temporary backend.
 */
import { step as say, warn } from "./ui";

export type CleanupFn = (hard: boolean) => Promise<void> | void;

interface Entry {
  name: string;
  fn: CleanupFn;
}

export class Cleanup {
  private readonly entries: Entry[] = [];
  private running: Promise<void> | undefined;
  /** Set by the first signal; later steps of the main flow check it and stop. */
  interrupted: NodeJS.Signals | undefined;
  /** Set by a second signal: skip whatever graceful undoing is left. */
  forced = false;
  private readonly forceHandlers: Array<() => void> = [];

  /** Called on a second signal (e.g. to stop a running `pulumi destroy`). */
  onForce(fn: () => void): void {
    this.forceHandlers.push(fn);
  }

  /** Registers a step; the returned function unregisters it (when it was undone on the normal path). */
  add(name: string, fn: CleanupFn): () => void {
    const entry = { name, fn };
    this.entries.push(entry);
    return () => {
      const i = this.entries.indexOf(entry);
      if (i >= 0) this.entries.splice(i, 1);
    };
  }

  get pending(): number {
    return this.entries.length;
  }

  /** Runs every registered step, last first; a failing step is reported and the rest still run. */
  run(hard: boolean): Promise<void> {
    this.running ??= (async () => {
      while (this.entries.length) {
        const e = this.entries.pop() as Entry;
        say(`cleanup: ${e.name}`);
        try {
          await e.fn(hard);
        } catch (err) {
          warn(`cleanup: ${e.name} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }

  /**
   * Ctrl-C and friends: clean up (hard), then exit 130/143/129. A second signal while cleaning up forces
   * the blunt cleanup (one within a second of the first is taken for a relayed copy of it and ignored).
   */
  installSignalHandlers(): void {
    let first = 0;
    const codes: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.on(sig, () => {
        if (this.interrupted) {
          if (Date.now() - first < 1000 || this.forced) return;
          this.forced = true;
          warn(`${sig} again: skipping the rest of the graceful cleanup`);
          for (const fn of this.forceHandlers) fn();
          return;
        }
        this.interrupted = sig;
        first = Date.now();
        console.log("");
        warn(`${sig}: interrupted, cleaning up`);
        void this.run(true).finally(() => process.exit(codes[sig] ?? 1));
      });
    }
  }
}
