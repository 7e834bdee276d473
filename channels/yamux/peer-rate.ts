/**
 * A token bucket over a count the yamux session core keeps for the peer (Pings answered,
 * streams opened): the shell's clock turns a rate and a burst into the total the core may reach
 * before the frame that passes it is a violation (the core keeps no time).
 */

/** The bucket of one counted thing (see the module comment). */
export class PeerRate {
  #tokens: number;
  #at = 0;
  #counted = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `count` reads the core's total; `limit` gives the core the total it may reach: what the
   * bucket holds and one burst more (within that debt the connection is only read more slowly).
   * `perSecond` 0: no limit.
   */
  constructor(
    readonly perSecond: number,
    readonly burst: number,
    private readonly count: () => number,
    private readonly limit: (total: number) => void,
  ) {
    this.#tokens = perSecond === 0 ? Infinity : burst;
    this.#setLimit();
  }

  /** Before a read: a bucket not full is refilled for the time since, and the core told. */
  beforeRead(): void {
    if (this.#tokens < this.burst) this.#refill();
  }

  /**
   * After a read in which the core's count moved: what it counted is taken; in debt, `paid` is
   * called once it is paid. True when this read put the peer in debt (it was not before).
   */
  afterRead(paid: () => void): boolean {
    const total = this.count();
    if (total === this.#counted) return false;
    const n = total - this.#counted;
    this.#counted = total;
    if (this.#tokens === Infinity) return false;
    this.#refill();
    this.#tokens -= n;
    this.#setLimit();
    if (this.#tokens < 0 && this.#timer === undefined) {
      this.#timer = setTimeout(
        () => {
          this.#timer = undefined;
          this.#refill();
          paid();
        },
        Math.ceil((-this.#tokens * 1000) / this.perSecond),
      );
      this.#timer.unref();
      return true;
    }
    return false;
  }

  /** The connection is over: no timer left. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) * this.perSecond) / 1000);
    this.#at = now;
    this.#setLimit();
  }

  #setLimit(): void {
    if (this.#tokens !== Infinity) this.limit(this.#counted + Math.floor(this.#tokens) + this.burst);
  }
}
