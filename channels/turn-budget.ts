/**
 * The bytes of peers' data that established connections may process in one turn of the event
 * loop, shared by the connections of a node (a comms node makes one: a node usually has its
 * process, and its event loop, to itself; channels made without one share the process's). Past
 * it, a channel puts what it read back and waits for the next turn; bulk data waits, and
 * everything else the turn has to do (a handshake's next message, a timer, a worker's answer)
 * does not wait behind it. The muxers charge each stream their peers open to it as well.
 *
 * Why: libuv reads up to 32 x 64 KiB from each readable socket per turn, and a channel decrypts
 * and hands on every chunk at once. In bench:hostile's messaging-substreams attack (16 peers,
 * each filling 512 substreams' windows), turns took 40 to 270 ms (about 20 MB each) for the
 * first 2 s, and a good peer's upgrade, three or four turns of the victim, took up to 500 ms.
 */
import { ConfigError } from '../core/errors.js';

/**
 * Default bytes per turn: about 2-4 ms of decrypting and handing on at a few hundred MB/s, and
 * few enough turns per second that a turn's bookkeeping (an immediate, a pause and a resume of
 * each waiting connection) is under 2% of a receiver's busy time (a profile of the two-process
 * stream of `bench/e2e`; the stream's rate and CPU per GiB the same as without it).
 */
export const DEFAULT_TURN_BYTES = 512 * 1024;
/**
 * Default bytes per turn while a connection's upgrade is under way (see {@link TurnBudget.urgent}):
 * one Noise message, well under a millisecond, so that each step of a handshake waits behind
 * little bulk (an upgrade takes five or six turns of the responder). A peer that keeps upgrades
 * going (each holds an upgrade slot, within its deadline) costs the node's bulk data the
 * bookkeeping of the extra turns: the two-process stream of `bench/e2e` at 64 KiB a turn, 9
 * runs alternated with 512 KiB, took 11% more of the receiver's CPU per GiB, at 4% less rate.
 */
export const DEFAULT_URGENT_TURN_BYTES = 64 * 1024;
/**
 * A read this small (a control frame, a short message, the rest of a handshake) is processed
 * once per turn per connection even when the turn's budget (or the reader's share of it) is
 * spent: a light connection does not wait behind heavy ones ...
 */
export const SMALL_READ = 4 * 1024;
/**
 * ... within this many bytes of such reads per turn for all readers together: past them a small
 * read waits like any other, so that the turn stays bounded however many connections a node has
 * (100 connections and 32 upgrades each with a small read made a turn of about twice the budget).
 */
export const SMALL_READS_PER_TURN = 64 * 1024;

/** One reader's (a connection's) state in the turns. */
export interface TurnReader {
  /** The turn in which it last had a small read past the budget. */
  smallTurn: number;
  /** The turn {@link used} counts in. */
  turn: number;
  /** Bytes it processed in that turn. */
  used: number;
}

/** A reader's state before its first read. */
export function turnReader(): TurnReader {
  return { smallTurn: -1, turn: -1, used: 0 };
}

/** The bytes per turn of the event loop that the connections sharing it may process. */
export class TurnBudget {
  /** The budget of every secure channel and muxer made without one (the process's). */
  static readonly shared = new TurnBudget(DEFAULT_TURN_BYTES);

  /** Bytes that may be processed in one turn (a read that starts within it is processed whole). */
  readonly bytesPerTurn: number;
  /** The same while something urgent is under way ({@link urgent}). */
  readonly urgentBytesPerTurn: number;
  #urgent = 0;
  #turn = 0;
  #used = 0;
  #smallUsed = 0;
  /** Readers resumed at the start of this turn: each may take its share of the turn (see {@link admit}). */
  #resumed = 0;
  #scheduled = false;
  #waiting: Array<() => void> = [];

  constructor(bytesPerTurn: number, urgentBytesPerTurn = Math.min(bytesPerTurn, DEFAULT_URGENT_TURN_BYTES)) {
    for (const [name, v] of [['bytesPerTurn', bytesPerTurn], ['urgentBytesPerTurn', urgentBytesPerTurn]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`${name} must be a positive integer, got ${v}`);
    }
    this.bytesPerTurn = bytesPerTurn;
    this.urgentBytesPerTurn = urgentBytesPerTurn;
  }

  /**
   * Something waits on the turns and should not wait behind bulk (a connection's upgrade: each
   * of its steps is a turn): until the returned function is called (once is enough; more
   * calls do nothing), a turn's budget is {@link urgentBytesPerTurn}.
   */
  urgent(): () => void {
    this.#urgent++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#urgent--;
    };
  }

  /** How many {@link urgent} holds are open. */
  get urgentHolds(): number {
    return this.#urgent;
  }

  /** The number of the current turn (it changes after every turn in which something was read). */
  get turn(): number {
    return this.#turn;
  }

  /** Bytes processed in this turn so far. */
  get used(): number {
    return this.#used;
  }

  /** Readers waiting for the next turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * `reader` read `bytes`: true (and counted) when it may process them in this turn, which is
   * while the turn's budget lasts and the reader has not used its share of it (the budget
   * divided among the readers that waited for this turn, when more than one did: one reader with
   * a backlog, resumed first, does not take every turn's whole budget from those resumed after
   * it); once either is spent, for the reader's first small read of the turn
   * ({@link SMALL_READ}), within {@link SMALL_READS_PER_TURN} for all. False: the reader should
   * put them back and {@link waitForNextTurn}.
   */
  admit(bytes: number, reader: TurnReader): boolean {
    if (reader.turn !== this.#turn) {
      reader.turn = this.#turn;
      reader.used = 0;
    }
    const budget = this.#urgent > 0 ? this.urgentBytesPerTurn : this.bytesPerTurn;
    const share = this.#resumed > 1 ? Math.max(SMALL_READ, Math.floor(budget / this.#resumed)) : budget;
    if (this.#used >= budget || reader.used >= share) {
      if (bytes > SMALL_READ || reader.smallTurn === this.#turn || this.#smallUsed >= SMALL_READS_PER_TURN) return false;
      reader.smallTurn = this.#turn;
      this.#smallUsed += bytes;
    }
    this.#used += bytes;
    reader.used += bytes;
    this.#schedule();
    return true;
  }

  /** `resume` is called once, at the start of the next turn (the check phase of this one), in the order of waiting. */
  waitForNextTurn(resume: () => void): void {
    this.#waiting.push(resume);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#nextTurn);
  }

  readonly #nextTurn = (): void => {
    this.#scheduled = false;
    this.#used = 0;
    this.#smallUsed = 0;
    this.#turn++;
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#resumed = waiting.length;
    // A reader whose resume throws (a stream handler's bug, say) does not leave the others
    // waiting for a turn that never comes (their connections would not be read again): each is
    // resumed, then the first error is thrown as before.
    let failed: { err: unknown } | undefined;
    for (const resume of waiting) {
      try {
        resume();
      } catch (err) {
        failed ??= { err };
      }
    }
    if (failed !== undefined) throw failed.err;
  };
}
