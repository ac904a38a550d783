/** What both variants share: options, the cleanup, the engine, where results go. */
import type { Cleanup } from "./cleanup";
import type { Engine } from "./pulumi";
import type { Figures, TrafficDriver, TrafficRun } from "./traffic";

export interface DemoOptions {
  /** Linux variant: keep each user on one uplink (the example's `sticky` config). */
  sticky: boolean;
  outDir: string;
}

export interface DemoContext {
  opts: DemoOptions;
  cleanup: Cleanup;
  engine: Engine;
  interrupted: () => boolean;
}

/** A check the demo makes of what it saw; a failed one makes the demo exit 1 (after cleaning up). */
export interface Verdict {
  what: string;
  ok: boolean;
  detail: string;
}

export interface VariantResult {
  variant: "linux" | "routeros";
  target: string;
  example: string;
  driver: TrafficDriver;
  run: TrafficRun;
  figures: Figures;
  verdicts: Verdict[];
  /** Extra facts for summary.json. */
  facts: Record<string, unknown>;
  timings: Record<string, number>;
  /** Destroys the stack and removes the target (lab or simulator), adding its verdicts. */
  finish: () => Promise<void>;
}
