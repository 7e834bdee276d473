/**
 * Memory budgets: what a peer makes this node hold, counted by the bytes really kept alive
 * (a small view of a large buffer keeps the whole buffer: count the buffer, or copy the view).
 * A budget may have a parent (a connection's budget inside the node's), so that one charge
 * counts against both. Pure bookkeeping: no I/O, no timers.
 */
import { ConfigError } from './errors.js';

/** A node's budget across all its connections, when none is given (256 MiB). */
export const DEFAULT_NODE_MEMORY = 256 * 1024 * 1024;
/** A connection's budget (its streams' unread data, partial frames, queued output): 16 MiB. */
export const DEFAULT_CONNECTION_MEMORY = 16 * 1024 * 1024;

/** Bytes charged, with an optional parent budget each charge also counts against. */
export class MemoryBudget {
  /** The most this budget means to hold; past it, {@link exceeded} is true. */
  readonly limit: number;
  /** The budget that each charge of this one also counts against. */
  readonly parent: MemoryBudget | undefined;
  #used = 0;
  #closed = false;
  /** One-shot callbacks waiting for this budget to be back within its limit. */
  #waiters: Set<() => void> | undefined;

  constructor(limit: number, parent?: MemoryBudget) {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new ConfigError(`a memory budget must be a positive integer of bytes, got ${limit}`);
    this.limit = limit;
    this.parent = parent;
  }

  /** Bytes charged now (this budget's own charges, children's included). */
  get used(): number {
    return this.#used;
  }

  /** Bytes that may still be charged before this budget or an ancestor goes over its limit. */
  get available(): number {
    let room = this.limit - this.#used;
    for (let p = this.parent; p !== undefined; p = p.parent) room = Math.min(room, p.limit - p.#used);
    return Math.max(0, room);
  }

  /** True when this budget or an ancestor holds more than its limit. */
  get exceeded(): boolean {
    for (let b: MemoryBudget | undefined = this; b !== undefined; b = b.parent) if (b.#used > b.limit) return true;
    return false;
  }

  /** True once {@link close} was called: charges and releases do nothing any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A budget of `limit` bytes whose charges also count against this one. */
  child(limit: number): MemoryBudget {
    return new MemoryBudget(limit, this);
  }

  /** Charges `n` bytes if neither this budget nor an ancestor would go over; false (and nothing charged) otherwise. */
  tryCharge(n: number): boolean {
    if (n > this.available) return false;
    this.charge(n);
    return true;
  }

  /**
   * Charges `n` bytes whatever the limits (bytes already held, such as data the protocol
   * obliges this node to accept): the holder then stops taking more while {@link exceeded}.
   */
  charge(n: number): void {
    if (this.#closed || n <= 0) return;
    for (let b: MemoryBudget | undefined = this; b !== undefined; b = b.parent) b.#used += n;
  }

  /** Releases `n` bytes charged before (more than is charged releases what is). */
  release(n: number): void {
    if (this.#closed || n <= 0) return;
    const k = Math.min(n, this.#used);
    for (let b: MemoryBudget | undefined = this; b !== undefined; b = b.parent) {
      b.#used = Math.max(0, b.#used - k);
      if (b.#waiters !== undefined && b.#used <= b.limit) b.#wake();
    }
  }

  /**
   * Calls `fn` once, when this budget and its ancestors are all back within their limits (at
   * once, synchronously, when they are now). Returns a function that cancels the wait: call it
   * when the waiter goes away, so that a long-lived parent does not keep it alive.
   */
  whenAvailable(fn: () => void): () => void {
    let over: MemoryBudget | undefined;
    for (let b: MemoryBudget | undefined = this; b !== undefined && over === undefined; b = b.parent) if (b.#used > b.limit) over = b;
    if (over === undefined) {
      fn();
      return noop;
    }
    // Wait on the budget that is over; when it wakes us, check the others again.
    let cancelled = false;
    let cancelInner = noop;
    const wake = () => {
      if (!cancelled) cancelInner = this.whenAvailable(fn);
    };
    const target = over;
    (target.#waiters ??= new Set()).add(wake);
    return () => {
      cancelled = true;
      target.#waiters?.delete(wake);
      cancelInner();
    };
  }

  /**
   * The holder is gone: everything still charged is released from the ancestors, waiters are
   * dropped, and later charges and releases are ignored (late callbacks cannot count twice).
   */
  close(): void {
    if (this.#closed) return;
    const held = this.#used;
    for (let p = this.parent; p !== undefined; p = p.parent) {
      p.#used -= Math.min(held, p.#used);
      if (p.#waiters !== undefined && p.#used <= p.limit) p.#wake();
    }
    this.#used = 0;
    this.#closed = true;
    this.#waiters = undefined;
  }

  #wake(): void {
    const waiters = this.#waiters!;
    this.#waiters = undefined;
    for (const w of waiters) w();
  }
}

function noop(): void {}

/**
 * What one holder (a reader's partial frame, say) keeps charged to a budget, set to a level:
 * {@link set} charges or releases the difference; past the budget the hold is {@link paused}
 * (the holder stops reading) until the budget has room again. `onChange` is called whenever
 * `paused` changes.
 */
export class BudgetHold {
  #charged = 0;
  #paused = false;
  #cancelWait: (() => void) | undefined;

  constructor(
    readonly budget: MemoryBudget,
    readonly onChange: () => void,
  ) {}

  /** True while the budget is over and the holder should not take more. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Charges exactly `held` bytes for this holder; over the budget, pauses until it has room. */
  set(held: number): void {
    if (held > this.#charged) this.budget.charge(held - this.#charged);
    else if (held < this.#charged) this.budget.release(this.#charged - held);
    this.#charged = held;
    if (this.budget.exceeded && !this.#paused) {
      this.#paused = true;
      this.onChange();
      this.#cancelWait = this.budget.whenAvailable(() => {
        this.#cancelWait = undefined;
        this.#paused = false;
        this.onChange();
      });
    }
  }

  /** The holder is gone: its wait ends and everything it had charged is released. */
  release(): void {
    this.#cancelWait?.();
    this.#cancelWait = undefined;
    this.budget.release(this.#charged);
    this.#charged = 0;
  }
}

