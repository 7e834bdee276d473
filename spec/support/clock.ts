/** A SimulatedClock that knows which of its timers are pending (to check that an actor leaves none behind). */
import { SimulatedClock } from 'xstate';

/** A SimulatedClock that counts its pending timers. */
export class CountingClock extends SimulatedClock {
  readonly #pending = new Set<number>();

  /** Timers set and neither fired nor cleared. */
  get pending(): number {
    return this.#pending.size;
  }

  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id: number = super.setTimeout(() => {
      this.#pending.delete(id);
      fn();
    }, timeout);
    this.#pending.add(id);
    return id;
  }

  override clearTimeout(id: number): void {
    this.#pending.delete(id);
    super.clearTimeout(id);
  }
}
