/**
 * Fair admission of inbound sockets (the listener's accept loop): what one address, or a crowd
 * of silent or slow sockets, can take from everyone else is bounded.
 *
 * - An **address** is the remote IP as {@link addressGroup} groups it: an IPv6 address counts by
 *   its /64 (else whoever holds a /64 has unlimited addresses and escapes every per-address
 *   bound and penalty), an IPv4-mapped one as its IPv4 address. The loop computes it once.
 * - A socket whose peer has not sent its first Noise message (the wire byte, then message 1,
 *   whole) is only **waiting**: it costs little and takes no
 *   upgrade slot, but waiting sockets are bounded too, in all and per address. When the pool
 *   is full a newcomer (whose own address is under its share) is not refused: the oldest waiting
 *   socket of the address holding the most is shed, or the oldest of all when none holds more
 *   than one. A good peer's socket waits only the few ms its first message takes, so neither a
 *   crowd from a few addresses nor one socket each from many addresses sheds it reliably; they
 *   shed their own long-stalled sockets (before, a full pool refused everyone: about 170 sockets
 *   a second from 16 addresses kept the door shut).
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
import { isIPv4, isIPv6 } from 'node:net';
import { AbortedError, TimeoutError } from '../../core/errors.js';

/**
 * The admission address of a remote IP: what per-address bounds and penalties count by. An
 * IPv4 address is itself; an IPv6 address counts by its /64 (`2001:db8:0:1::/64`: whoever holds
 * a /64 holds 2^64 addresses, one subscriber's usual share), except loopback `::1` (itself) and
 * an IPv4-mapped address `::ffff:a.b.c.d` (the IPv4 address). Anything else (not an IP) is
 * returned as it is.
 */
export function addressGroup(ip: string): string {
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return ip;
  const groups = expandIPv6(ip.split('%')[0]!);
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return '::1';
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  const prefix = groups.slice(0, 4);
  // The shortest form of the prefix: its trailing zero groups fold into the `::`.
  while (prefix.length > 0 && prefix[prefix.length - 1] === 0) prefix.pop();
  return `${prefix.map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (zone removed), `::` and a dotted IPv4 tail expanded. */
function expandIPv6(ip: string): number[] {
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const at = ip.indexOf('::');
  if (at < 0) return parse(ip);
  const head = parse(ip.slice(0, at));
  const tail = parse(ip.slice(at + 2));
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

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

/** A socket waiting for its first Noise message (or, after it, for an upgrade slot of its address). */
export interface Waiting {
  readonly address: string;
  /** Called when the socket is shed to make room for a newcomer (the loop closes it). */
  readonly shed: () => void;
}

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
  /** Waiting sockets, oldest first. */
  readonly #waiting = new ByAddress<Waiting>();
  readonly #upgrades = new ByAddress<Upgrade>();
  /** Address -> the sockets waiting for one of its upgrade slots (woken when one is released). */
  readonly #slotWaiters = new Map<string, Set<() => void>>();
  /** Address -> the times of its recent violations (oldest first). */
  readonly #violations = new Map<string, number[]>();

  constructor(limits: Partial<AdmissionLimits> = {}) {
    this.limits = { ...DEFAULT_ADMISSION_LIMITS, ...limits };
  }

  /** Sockets waiting for their first Noise message. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Upgrades holding a slot. */
  get upgrading(): number {
    return this.#upgrades.size;
  }

  /** Upgrades holding a slot for `address`. */
  upgradingFrom(address: string): number {
    return this.#upgrades.countOf(address);
  }

  /**
   * A new socket from `address` (its {@link addressGroup}) asks to wait for its first Noise
   * message: undefined (refuse it) when its address holds its share of waiting sockets;
   * otherwise it waits (call {@link stopWaiting} once it stops), after shedding another waiting
   * socket if the pool is full: the oldest of the address holding the most, or the oldest of
   * all when none holds more than one. `shed` is called
   * when this socket is shed in turn (the loop closes it).
   */
  startWaiting(address: string, shed: () => void = () => {}): Waiting | undefined {
    if (this.#waiting.countOf(address) >= this.limits.maxWaitingPerAddress) return undefined;
    if (this.#waiting.size >= this.limits.maxWaiting) {
      const victim = this.#waitingVictim();
      if (!victim) return undefined;
      this.stopWaiting(victim);
      victim.shed();
    }
    const waiting: Waiting = { address, shed };
    this.#waiting.add(waiting);
    return waiting;
  }

  /** The socket sent its first Noise message, closed, timed out or was shed; idempotent. */
  stopWaiting(waiting: Waiting): void {
    this.#waiting.delete(waiting);
  }

  /** Sockets from `address` waiting for their first Noise message (or for an upgrade slot). */
  waitingFrom(address: string): number {
    return this.#waiting.countOf(address);
  }

  /**
   * Which waiting socket to shed for a newcomer: the oldest of the address holding the most
   * (the first such address among equals), or the oldest of all when none holds more than one.
   * A good peer's socket waits only the few ms its first message takes, so it is rarely the
   * oldest; a crowd from one address sheds its own sockets first, and a crowd of addresses
   * with one socket each sheds its own long-stalled sockets (sets keep insertion order: the
   * first is the oldest).
   */
  #waitingVictim(): Waiting | undefined {
    return this.#waiting.sheddingPool().values().next().value;
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
    return upgrade;
  }

  /** The upgrade is over (active, failed or shed); idempotent. */
  release(upgrade: Upgrade): void {
    if (!this.#upgrades.delete(upgrade)) return;
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
    const pool = this.#upgrades.sheddingPool();
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

/** Sockets (waiting or upgrading) kept in arrival order, in all and per address. */
class ByAddress<T extends { readonly address: string }> {
  readonly #all = new Set<T>();
  readonly #by = new Map<string, Set<T>>();

  get size(): number {
    return this.#all.size;
  }

  countOf(address: string): number {
    return this.#by.get(address)?.size ?? 0;
  }

  add(item: T): void {
    this.#all.add(item);
    let set = this.#by.get(item.address);
    if (!set) this.#by.set(item.address, (set = new Set()));
    set.add(item);
  }

  /** False when `item` was not held (idempotent). */
  delete(item: T): boolean {
    if (!this.#all.delete(item)) return false;
    const set = this.#by.get(item.address)!;
    set.delete(item);
    if (set.size === 0) this.#by.delete(item.address);
    return true;
  }

  /**
   * Where admission sheds from: the set of the address holding the most (the first such address
   * among equals), or all when no address holds more than one (both in arrival order).
   */
  sheddingPool(): ReadonlySet<T> {
    let busiest: Set<T> | undefined;
    for (const set of this.#by.values()) if (!busiest || set.size > busiest.size) busiest = set;
    return busiest && busiest.size > 1 ? busiest : this.#all;
  }
}
