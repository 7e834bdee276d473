/**
 * The state a fault transport shares with its connections: whether faults are on, the plan, the
 * count of every fault injected, and the waits in progress (so that turning faults off, or
 * closing, releases them at once instead of leaving timers behind).
 */
import type { Prng } from '../../core/prng.js';
import { faultPlan, STREAM_FAULT_KINDS, type FaultPlan, type FaultPlanInit, type StreamFaultKind } from './plan.js';

/** What happens to one chunk: passed as it is, or one fault. */
export type ChunkFate = { kind: 'pass' } | { kind: StreamFaultKind };

/** A wait in progress: its timer and what to do when it ends (early or not). */
interface Hold {
  timer: NodeJS.Timeout;
  release: () => void;
}

/** Shared by a fault transport and its connections. */
export class FaultControl {
  #enabled: boolean;
  #plan: FaultPlan;
  readonly #counts = new Map<string, number>();
  readonly #holds = new Set<Hold>();

  constructor(plan: FaultPlanInit, enabled: boolean) {
    this.#plan = faultPlan(plan);
    this.#enabled = enabled;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get plan(): FaultPlan {
    return this.#plan;
  }

  set plan(init: FaultPlanInit) {
    this.#plan = faultPlan(init);
  }

  /** Faults from now on. */
  enable(): void {
    this.#enabled = true;
  }

  /** No faults from now on; every delay and stall in progress ends now. */
  disable(): void {
    this.#enabled = false;
    this.releaseAll();
  }

  /** Ends every wait in progress now. */
  releaseAll(): void {
    for (const hold of [...this.#holds]) {
      clearTimeout(hold.timer);
      this.#holds.delete(hold);
      hold.release();
    }
  }

  /** Calls `release` after `ms`, or sooner when faults are turned off. Returns a cancel (no release). */
  hold(ms: number, release: () => void): () => void {
    const hold: Hold = {
      timer: setTimeout(() => {
        this.#holds.delete(hold);
        release();
      }, ms),
      release,
    };
    this.#holds.add(hold);
    return () => {
      clearTimeout(hold.timer);
      this.#holds.delete(hold);
    };
  }

  /** Waits in progress. */
  get holds(): number {
    return this.#holds.size;
  }

  /** Counts `what` (e.g. `outbound.drop`, `dial.refuse`). */
  count(what: string): void {
    this.#counts.set(what, (this.#counts.get(what) ?? 0) + 1);
  }

  /** Every fault injected so far, by `direction.kind`. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.#counts.entries()].sort());
  }

  /** The fate of a chunk going `direction`, drawn from `rng` (one draw; none while faults are off). */
  fate(direction: 'outbound' | 'inbound', rng: Prng): ChunkFate {
    if (!this.#enabled) return { kind: 'pass' };
    const faults = this.#plan[direction];
    let r = rng.float();
    for (const kind of STREAM_FAULT_KINDS) {
      if (r < faults[kind]) {
        this.count(`${direction}.${kind}`);
        return { kind };
      }
      r -= faults[kind];
    }
    return { kind: 'pass' };
  }

  /** True with probability `p` (drawn from `rng`) while faults are on; counts `what` when true. */
  happens(what: string, p: number, rng: Prng): boolean {
    if (!this.#enabled || p <= 0) return false;
    const yes = rng.float() < p;
    if (yes) this.count(what);
    return yes;
  }

  /** A delay or stall length from the plan's range. */
  duration(kind: 'delay' | 'stall', rng: Prng): number {
    const [lo, hi] = kind === 'delay' ? this.#plan.delayMs : this.#plan.stallMs;
    return rng.range(lo, hi);
  }
}
