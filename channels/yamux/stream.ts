/**
 * A yamux stream as a Node Duplex. Reads are credited back to the peer only as the application
 * takes them, so a slow reader stalls the writer through the window; writes wait for window
 * and for the connection to drain, never buffering without bound. What the stream holds for
 * its reader (its own queue, and the Readable's buffer until the reader takes it) is charged
 * to the connection's memory budget by the buffers it keeps alive ({@link ReceiveQueue}).
 */
import { Duplex } from 'node:stream';
import type { MemoryBudget } from '../../core/budget.js';
import { AbortedError } from '../../core/errors.js';
import { heldSize, ReceiveQueue } from './receive-queue.js';

/** What a stream needs from its muxer. */
export interface StreamHost {
  /** The connection's memory budget: received bytes held for the reader are charged to it. */
  readonly memory: MemoryBudget;
  /** Queue bytes on the stream; returns how many the send window took. */
  write(id: number, data: Uint8Array): number;
  /** The application took `n` bytes. */
  consumed(id: number, n: number): void;
  closeWrite(id: number): void;
  reset(id: number): void;
  /** Run `resume` when the connection can take more (at once if it can). */
  whenWritable(resume: () => void): void;
  /** The stream is destroyed: drop it. */
  forget(id: number): void;
}

/** Whether this side or the peer opened the stream. */
export type StreamDirection = 'inbound' | 'outbound';

interface PendingWrite {
  chunks: Uint8Array[];
  index: number;
  offset: number;
  callback: (err?: Error | null) => void;
}

/** One yamux substream as a Node Duplex, with window-based backpressure. */
export class YamuxStream extends Duplex {
  readonly id: number;
  readonly direction: StreamDirection;
  readonly #host: StreamHost;
  /** Received bytes not yet handed to the Readable (at most one receive window). */
  readonly #queue: ReceiveQueue;
  /**
   * Chunks handed to the Readable that its reader has not taken yet: their lengths and charges
   * (oldest first from #givenHead), released as the Readable's length shows them taken.
   */
  #given: number[] = [];
  #givenCharges: number[] = [];
  #givenHead = 0;
  #givenBytes = 0;
  #wantsData = false;
  #remoteEnded = false;
  #pending: PendingWrite | undefined;
  #writing = false;
  #windowGrew = false;

  constructor(id: number, direction: StreamDirection, host: StreamHost) {
    super({ allowHalfOpen: true, decodeStrings: true });
    this.id = id;
    this.direction = direction;
    this.#host = host;
    this.#queue = new ReceiveQueue(host.memory);
  }

  /**
   * The connection's memory budget: what a protocol on this stream buffers for the peer (a
   * partial frame, say) can be charged to it, next to the stream's own unread data.
   */
  get memory(): MemoryBudget {
    return this.#host.memory;
  }

  /** True once the peer closed its side (FIN). */
  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }

  /** Bytes received and held for the reader in the stream's own queue (bounded by the receive window). */
  get queuedBytes(): number {
    return this.#queue.length;
  }

  /** Bytes charged to the connection's budget for what this stream holds (its queue, the Readable's buffer). */
  get heldBytes(): number {
    let n = this.#queue.charged;
    for (let i = this.#givenHead; i < this.#givenCharges.length; i++) n += this.#givenCharges[i]!;
    return n;
  }

  // ---- called by the muxer ----------------------------------------------------------------

  /** @internal Data from the peer. */
  onData(data: Uint8Array): void {
    if (this.destroyed) return;
    if (this.#wantsData && this.#queue.empty && this.readableFlowing === true) {
      // A flowing reader takes it at once: nothing is kept (unless the Readable buffers it after all).
      this.#host.consumed(this.id, data.length);
      this.#wantsData = this.push(data);
      if (this.#givenBytes > 0 || this.readableLength > 0) this.#track(data.length, heldSize(data), true);
      return;
    }
    this.#queue.push(data);
    if (this.#wantsData) this.#drain();
  }

  /** @internal The peer closed its side (FIN). */
  onRemoteClose(): void {
    this.#remoteEnded = true;
    if (this.#queue.empty && !this.destroyed) this.push(null);
  }

  /** @internal The send window grew. */
  onSendWindow(): void {
    if (this.#pending !== undefined) this.#continueWrite();
  }

  // ---- Duplex implementation ---------------------------------------------------------------

  override _read(): void {
    this.#wantsData = true;
    this.#drain();
  }

  /** Every read (flowing mode reads too) may have taken chunks out of the Readable's buffer. */
  override read(size?: number): any {
    const out: unknown = super.read(size);
    if (this.#givenBytes > 0) this.#settle();
    return out;
  }

  /** Hand queued chunks to the Readable while it wants more. */
  #drain(): void {
    const q = this.#queue;
    while (this.#wantsData) {
      const chunk = q.shift();
      if (chunk === undefined) break;
      this.#host.consumed(this.id, chunk.length);
      this.#wantsData = this.push(chunk);
      this.#track(chunk.length, q.lastCharge, false);
    }
    if (q.empty && this.#remoteEnded) this.push(null);
  }

  /**
   * A chunk of `length` bytes, charged `charge`, went into the Readable: released once the
   * reader has taken it (at once if it already has). `charge` is charged here when `fresh`
   * (the queue charged the others).
   */
  #track(length: number, charge: number, fresh: boolean): void {
    if (this.#givenBytes === 0 && this.readableLength === 0) {
      if (!fresh) this.#host.memory.release(charge);
      return;
    }
    if (fresh) this.#host.memory.charge(charge);
    this.#given.push(length);
    this.#givenCharges.push(charge);
    this.#givenBytes += length;
    this.#settle();
  }

  /** Release the charges of the chunks the reader has taken (a chunk partly taken stays charged). */
  #settle(): void {
    let taken = this.#givenBytes - this.readableLength;
    let released = 0;
    while (this.#givenHead < this.#given.length && this.#given[this.#givenHead]! <= taken) {
      const n = this.#given[this.#givenHead]!;
      taken -= n;
      this.#givenBytes -= n;
      released += this.#givenCharges[this.#givenHead]!;
      this.#givenHead++;
    }
    if (this.#givenHead === this.#given.length) {
      this.#given = [];
      this.#givenCharges = [];
      this.#givenHead = 0;
    }
    if (released > 0) this.#host.memory.release(released);
  }

  #releaseAll(): void {
    this.#queue.clear();
    let n = 0;
    for (let i = this.#givenHead; i < this.#givenCharges.length; i++) n += this.#givenCharges[i]!;
    this.#given = [];
    this.#givenCharges = [];
    this.#givenHead = 0;
    this.#givenBytes = 0;
    this.#host.memory.release(n);
  }

  override _write(chunk: Uint8Array, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#pending = { chunks: [chunk], index: 0, offset: 0, callback };
    this.#continueWrite();
  }

  override _writev(chunks: Array<{ chunk: Uint8Array }>, callback: (err?: Error | null) => void): void {
    this.#pending = { chunks: chunks.map((c) => c.chunk), index: 0, offset: 0, callback };
    this.#continueWrite();
  }

  #continueWrite(): void {
    // host.write may flush, and a synchronous connection may deliver the peer's window update
    // from inside it: such a re-entrant call only notes that the window grew.
    if (this.#writing) {
      this.#windowGrew = true;
      return;
    }
    const p = this.#pending!;
    this.#writing = true;
    try {
      while (p.index < p.chunks.length) {
        const chunk = p.chunks[p.index]!;
        const rest = p.offset === 0 ? chunk : chunk.subarray(p.offset);
        this.#windowGrew = false;
        const n = rest.length === 0 ? 0 : this.#host.write(this.id, rest);
        if (n < rest.length) {
          p.offset += n;
          if (this.#windowGrew && !this.destroyed) continue;
          return; // resumed by onSendWindow
        }
        p.index++;
        p.offset = 0;
      }
    } finally {
      this.#writing = false;
    }
    if (this.#pending !== p) return; // destroyed meanwhile
    this.#pending = undefined;
    this.#host.whenWritable(() => p.callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#host.closeWrite(this.id);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // RST unless the stream already closed both ways (then the core has forgotten it).
    this.#host.reset(this.id);
    this.#host.forget(this.id);
    this.#releaseAll();
    // A write waiting for window is dropped with the stream. Node fails the writes still
    // buffered, but the one in progress is ours to fail: its caller (a message's outcome, say)
    // would otherwise wait forever.
    const pending = this.#pending;
    this.#pending = undefined;
    callback(err);
    if (pending !== undefined) process.nextTick(pending.callback, err ?? new AbortedError('the stream was destroyed with a write waiting for window'));
  }
}
