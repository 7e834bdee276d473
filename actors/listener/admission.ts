/**
 * Fair admission of inbound sockets (the listener's accept loop): what one address, or a crowd
 * of silent or slow sockets, can take from everyone else is bounded.
 *
 * - A socket whose peer has not sent its first Noise message (the wire byte, then message 1,
 *   whole) is only **waiting**: it costs little and takes no
 *   upgrade slot, but waiting sockets are bounded too, in all and per address.
 * - An **upgrade** (from the first Noise message to an active connection) takes a slot: at most
 *   `maxUpgrades` in all and `maxUpgradesPerAddress` per address. A socket whose address holds
 *   its share keeps waiting (still counted as waiting, so bounded per address) until one of that
 *   address's upgrades ends, within its upgrade deadline: many peers behind one address (a NAT,
 *   a test host dialing 32 at once) are served four at a time, not refused. When every slot is taken, a
 *   newcomer does not simply lose: an upgrade of the busiest address (the one holding the most
 *   slots) is shed, or of all when no address holds more than one, so a crowd of slow upgrades
 *   cannot keep a good peer out for long. Of those, the one that has made the least progress
 *   (the fewest bytes from its peer) goes, the oldest among equals: a crowd of newcomers from
 *   many addresses that each send a byte and stall sheds each other, not a peer that is
 *   handshaking at speed (shedding by age alone let a flood of newcomers shed every upgrade
 *   that lasted longer than the flood took to fill the slots: `bench:hostile`).
 * - An address whose sockets broke the protocol is **penalised**: its new sockets wait a delay
 *   that grows with its violations (bounded) and wears off with time.
 *
 * Pure bookkeeping with the clock passed in: no sockets, no timers (the accept loop applies the
 * decisions).
 */
import { AbortedError, TimeoutError } from '../../core/errors.js';

/** The bounds of admission. */
export interface AdmissionLimits {
  /** Upgrades in progress at most (from the first Noise message to an active connection). */
  maxUpgrades: number;
  /** Upgrades in progress from one address at most. */
  maxUpgradesPerAddress: number;
  /** Sockets waiting for their first Noise message at most. */
  maxWaiting: number;
  /** Sockets from one address waiting for their first Noise message at most. */
  maxWaitingPerAddress: number;
  /** Delay per recent violation of an address before its new sockets are read (ms). */
  penaltyStepMs: number;
  /** The longest delay (ms). */
  maxPenaltyMs: number;
  /** A violation stops counting after this long (ms). */
  penaltyDecayMs: number;
  /** Addresses whose penalties are remembered at most (the oldest is forgotten beyond). */
  maxPenalised: number;
}

/** Defaults of admission (issue 18's figures where it gives them). */
export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = Object.freeze({
  maxUpgrades: 32,
  maxUpgradesPerAddress: 4,
  maxWaiting: 1_024,
  maxWaitingPerAddress: 64,
  penaltyStepMs: 500,
  maxPenaltyMs: 5_000,
  penaltyDecayMs: 60_000,
  maxPenalised: 4_096,
});

/** An upgrade holding a slot. */
export interface Upgrade {
  readonly address: string;
  readonly startedAt: number;
  /** Called when the upgrade is shed to make room (the loop aborts it). */
  readonly shed: () => void;
  /** How far the upgrade got: the bytes its peer sent so far (the least is shed first). */
  readonly progress: () => number;
}

/** The admission state (see the module comment). */
export class Admission {
  readonly limits: AdmissionLimits;
  #waiting = 0;
  readonly #waitingBy = new Map<string, number>();
  readonly #upgrades = new Set<Upgrade>();
  readonly #upgradesBy = new Map<string, Set<Upgrade>>();
  /** Address -> the sockets waiting for one of its upgrade slots (woken when one is released). */
  readonly #slotWaiters = new Map<string, Set<() => void>>();
  /** Address -> the times of its recent violations (oldest first). */
  readonly #violations = new Map<string, number[]>();

  constructor(limits: Partial<AdmissionLimits> = {}) {
    this.limits = { ...DEFAULT_ADMISSION_LIMITS, ...limits };
  }

  /** Sockets waiting for their first Noise message. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Upgrades holding a slot. */
  get upgrading(): number {
    return this.#upgrades.size;
  }

  /** Upgrades holding a slot for `address`. */
  upgradingFrom(address: string): number {
    return this.#upgradesBy.get(address)?.size ?? 0;
  }

  /** A new socket: true if it may wait for its first Noise message (then call {@link stopWaiting} once). */
  startWaiting(address: string): boolean {
    const from = this.#waitingBy.get(address) ?? 0;
    if (this.#waiting >= this.limits.maxWaiting || from >= this.limits.maxWaitingPerAddress) return false;
    this.#waiting++;
    this.#waitingBy.set(address, from + 1);
    return true;
  }

  /** The socket sent its first Noise message, closed, or timed out. */
  stopWaiting(address: string): void {
    const from = this.#waitingBy.get(address) ?? 0;
    if (from <= 0) return;
    this.#waiting--;
    if (from === 1) this.#waitingBy.delete(address);
    else this.#waitingBy.set(address, from - 1);
  }

  /**
   * A socket sent its first Noise message and asks for an upgrade slot. Refused (undefined) when its own
   * address holds its share; otherwise admitted, after shedding another upgrade if every slot is
   * taken. Release the returned upgrade once it is over. `progress` tells how far it got (the
   * bytes its peer sent so far; default none).
   */
  startUpgrade(address: string, now: number, shed: () => void, progress: () => number = () => 0): Upgrade | undefined {
    if (this.upgradingFrom(address) >= this.limits.maxUpgradesPerAddress) return undefined;
    if (this.#upgrades.size >= this.limits.maxUpgrades) {
      const victim = this.#victim();
      if (!victim) return undefined;
      this.release(victim);
      victim.shed();
    }
    const upgrade: Upgrade = { address, startedAt: now, shed, progress };
    this.#upgrades.add(upgrade);
    let set = this.#upgradesBy.get(address);
    if (!set) this.#upgradesBy.set(address, (set = new Set()));
    set.add(upgrade);
    return upgrade;
  }

  /** The upgrade is over (active, failed or shed); idempotent. */
  release(upgrade: Upgrade): void {
    if (!this.#upgrades.delete(upgrade)) return;
    const set = this.#upgradesBy.get(upgrade.address)!;
    set.delete(upgrade);
    if (set.size === 0) this.#upgradesBy.delete(upgrade.address);
    const waiters = this.#slotWaiters.get(upgrade.address);
    if (waiters) for (const wake of waiters) wake();
  }

  /**
   * Waits until an upgrade of `address` is released (or `signal` aborts: then it rejects with the
   * signal's reason). The caller is a waiting socket (counted by {@link startWaiting}), so the
   * waiters of one address are bounded by `maxWaitingPerAddress`; it asks for its slot again.
   */
  slotFreed(address: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      let waiters = this.#slotWaiters.get(address);
      if (!waiters) this.#slotWaiters.set(address, (waiters = new Set()));
      const done = (err?: unknown) => {
        waiters.delete(wake);
        if (waiters.size === 0 && this.#slotWaiters.get(address) === waiters) this.#slotWaiters.delete(address);
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const wake = () => done();
      const onAbort = () => done(signal.reason ?? new AbortedError('aborted'));
      waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Sockets waiting for one of `address`'s upgrade slots. */
  slotWaitersOf(address: string): number {
    return this.#slotWaiters.get(address)?.size ?? 0;
  }

  /**
   * Which upgrade to shed: of the busiest address's, or of all when none holds more than one,
   * the one with the least progress, the oldest among equals.
   */
  #victim(): Upgrade | undefined {
    let busiest: Set<Upgrade> | undefined;
    for (const set of this.#upgradesBy.values()) if (!busiest || set.size > busiest.size) busiest = set;
    const pool = busiest && busiest.size > 1 ? busiest : this.#upgrades;
    let victim: Upgrade | undefined;
    let least = Number.POSITIVE_INFINITY;
    for (const u of pool) {
      const p = u.progress();
      if (p < least || (p === least && u.startedAt < victim!.startedAt)) {
        victim = u;
        least = p;
      }
    }
    return victim;
  }

  /** A socket from `address` broke the protocol: its address's next sockets wait a little longer. */
  penalise(address: string, now: number): void {
    const times = this.#recent(address, now) ?? [];
    times.push(now);
    // Past the longest delay, more violations add nothing: keep the list bounded too.
    const cap = Math.ceil(this.limits.maxPenaltyMs / this.limits.penaltyStepMs);
    if (times.length > cap) times.splice(0, times.length - cap);
    this.#violations.delete(address);
    this.#violations.set(address, times);
    if (this.#violations.size > this.limits.maxPenalised) this.#violations.delete(this.#violations.keys().next().value!);
  }

  /** How long a new socket from `address` waits before it is read (ms). */
  penaltyFor(address: string, now: number): number {
    const n = this.#recent(address, now)?.length ?? 0;
    return Math.min(n * this.limits.penaltyStepMs, this.limits.maxPenaltyMs);
  }

  /** The address's violations that still count, or undefined (and forgotten) when none does. */
  #recent(address: string, now: number): number[] | undefined {
    const times = this.#violations.get(address);
    if (!times) return undefined;
    while (times.length > 0 && now - times[0]! >= this.limits.penaltyDecayMs) times.shift();
    if (times.length > 0) return times;
    this.#violations.delete(address);
    return undefined;
  }
}

/** An inbound upgrade ran past its deadline (from accept to active). */
export class UpgradeTimeout extends TimeoutError {}

/** An inbound upgrade was shed to make room for a newcomer (every slot was taken). */
export class UpgradeShed extends AbortedError {}
