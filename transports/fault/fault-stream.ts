/**
 * A connection's byte stream with faults: a Duplex between the application and the transport's
 * own stream that passes each chunk, in order and with backpressure, unless the plan says to
 * drop, duplicate, truncate, corrupt, delay or stall it, or to reset the connection. With faults
 * off it is transparent: half-close, end, destroy and errors pass through.
 */
import { Duplex } from 'node:stream';
import type { Prng } from '../../core/prng.js';
import type { ChunkFate, FaultControl } from './control.js';

/** The end of the inbound stream, queued behind the chunks before it. */
const EOF = null;

/** A Duplex over `inner` that injects the faults of `control`. */
export class FaultStream extends Duplex {
  readonly #inner: Duplex;
  readonly #control: FaultControl;
  readonly #out: Prng;
  readonly #in: Prng;
  /** Chunks read from `inner` not yet passed on (EOF last). */
  readonly #queue: Array<Uint8Array | typeof EOF> = [];
  /** A delay or stall holds the inbound queue. */
  #inboundHeld = false;
  /** The reader wants more (the last push did not refuse). */
  #wanted = true;
  /** Cancels of the waits in progress, to drop them when the stream is destroyed. */
  readonly #cancels = new Set<() => void>();

  constructor(inner: Duplex, control: FaultControl, rng: Prng) {
    super({ allowHalfOpen: true, readableHighWaterMark: inner.readableHighWaterMark, writableHighWaterMark: inner.writableHighWaterMark });
    this.#inner = inner;
    this.#control = control;
    this.#out = rng.fork('outbound');
    this.#in = rng.fork('inbound');
    inner.on('data', (chunk: Uint8Array) => this.#inbound(chunk));
    inner.on('end', () => this.#inbound(EOF));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => {
      // Ended both ways: this stream ends by itself once its queue is passed on. Otherwise the
      // transport's stream was destroyed (a reset): so is this one, with its error if any.
      if (!(inner.readableEnded && inner.writableFinished)) this.destroy(inner.errored ?? undefined);
    });
  }

  // ---- outbound: what the application writes ----------------------------------------------

  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    const fate = this.#control.fate('outbound', this.#out);
    switch (fate.kind) {
      case 'pass':
        return this.#forward([chunk], callback);
      case 'drop':
        return callback();
      case 'duplicate':
        return this.#forward([chunk, chunk], callback);
      case 'truncate':
        return this.#forward([chunk.subarray(0, this.#out.int(chunk.length))], callback);
      case 'corrupt':
        return this.#forward([this.#corrupted(chunk, this.#out)], callback);
      case 'delay':
      case 'stall':
        return this.#wait(this.#control.duration(fate.kind, this.#out), () => this.#forward([chunk], callback));
      case 'reset':
        callback();
        return this.#reset();
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.#inner.destroyed && !this.#inner.writableEnded) this.#inner.end();
    callback();
  }

  /** Writes `chunks` to the transport's stream; `callback` once it takes more. */
  #forward(chunks: Uint8Array[], callback: (err?: Error | null) => void): void {
    const inner = this.#inner;
    if (inner.destroyed || inner.writableEnded) return callback();
    let more = true;
    for (const c of chunks) if (c.length > 0) more = inner.write(c);
    if (more) return callback();
    const done = () => {
      inner.off('drain', done);
      inner.off('close', done);
      callback();
    };
    inner.on('drain', done);
    inner.on('close', done);
  }

  // ---- inbound: what the application reads ------------------------------------------------

  #inbound(item: Uint8Array | typeof EOF): void {
    this.#queue.push(item);
    this.#pump();
  }

  /** Passes queued chunks on until the queue is empty, a wait holds it, or the reader is full. */
  #pump(): void {
    while (!this.#inboundHeld && this.#wanted && this.#queue.length > 0 && !this.destroyed) {
      const item = this.#queue.shift()!;
      if (item === EOF) {
        this.push(null);
        continue;
      }
      const fate: ChunkFate = this.#control.fate('inbound', this.#in);
      switch (fate.kind) {
        case 'pass':
          this.#deliver(item);
          break;
        case 'drop':
          break;
        case 'duplicate':
          this.#deliver(item);
          this.#deliver(item);
          break;
        case 'truncate':
          this.#deliver(item.subarray(0, this.#in.int(item.length)));
          break;
        case 'corrupt':
          this.#deliver(this.#corrupted(item, this.#in));
          break;
        case 'delay':
        case 'stall':
          this.#inboundHeld = true;
          this.#wait(this.#control.duration(fate.kind, this.#in), () => {
            this.#inboundHeld = false;
            this.#deliver(item);
            this.#pump();
          });
          break;
        case 'reset':
          return this.#reset();
      }
    }
    // Read from the transport only while the reader wants more and nothing is held back.
    if (this.#wanted && !this.#inboundHeld && this.#queue.length === 0) this.#inner.resume();
    else this.#inner.pause();
  }

  #deliver(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.destroyed) return;
    if (!this.push(chunk)) this.#wanted = false;
  }

  override _read(): void {
    this.#wanted = true;
    this.#pump();
  }

  // ---- faults and the end ------------------------------------------------------------------

  /** A copy of `chunk` with one bit flipped. */
  #corrupted(chunk: Uint8Array, rng: Prng): Uint8Array {
    const copy = new Uint8Array(chunk);
    if (copy.length > 0) copy[rng.int(copy.length)]! ^= 1 << rng.int(8);
    return copy;
  }

  /** Runs `then` after `ms` (at once when faults are turned off), unless this stream is destroyed first. */
  #wait(ms: number, then: () => void): void {
    const cancel = this.#control.hold(ms, () => {
      this.#cancels.delete(cancel);
      if (!this.destroyed) then();
    });
    this.#cancels.add(cancel);
  }

  #reset(): void {
    this.destroy(Object.assign(new Error('connection reset (injected fault)'), { code: 'ECONNRESET' }));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    for (const cancel of this.#cancels) cancel();
    this.#cancels.clear();
    this.#queue.length = 0;
    if (!this.#inner.destroyed) {
      this.#inner.on('error', () => {});
      this.#inner.destroy();
    }
    callback(err);
  }
}
