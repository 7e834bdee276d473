/**
 * A yamux stream as a Node Duplex. Reads are credited back to the peer only as the application
 * takes them, so a slow reader stalls the writer through the window; writes wait for window
 * and for the connection to drain, never buffering without bound.
 */
import { Duplex } from 'node:stream';
import { AbortedError } from '../../core/errors.js';

/** What a stream needs from its muxer. */
export interface StreamHost {
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
  #queue: Uint8Array[] = [];
  #queueHead = 0;
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
  }

  /** True once the peer closed its side (FIN). */
  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }

  /** Bytes received and held for the reader (bounded by the receive window). */
  get queuedBytes(): number {
    let n = 0;
    for (let i = this.#queueHead; i < this.#queue.length; i++) n += this.#queue[i]!.length;
    return n;
  }

  // ---- called by the muxer ----------------------------------------------------------------

  /** @internal Data from the peer. */
  onData(data: Uint8Array): void {
    if (this.destroyed) return;
    if (this.#wantsData && this.#queueHead === this.#queue.length) {
      this.#host.consumed(this.id, data.length);
      this.#wantsData = this.push(data);
      return;
    }
    this.#queue.push(data);
  }

  /** @internal The peer closed its side (FIN). */
  onRemoteClose(): void {
    this.#remoteEnded = true;
    if (this.#queueHead === this.#queue.length && !this.destroyed) this.push(null);
  }

  /** @internal The send window grew. */
  onSendWindow(): void {
    if (this.#pending !== undefined) this.#continueWrite();
  }

  // ---- Duplex implementation ---------------------------------------------------------------

  override _read(): void {
    this.#wantsData = true;
    const q = this.#queue;
    while (this.#wantsData && this.#queueHead < q.length) {
      const chunk = q[this.#queueHead]!;
      q[this.#queueHead++] = undefined as never;
      this.#host.consumed(this.id, chunk.length);
      this.#wantsData = this.push(chunk);
    }
    if (this.#queueHead === q.length) {
      this.#queue = [];
      this.#queueHead = 0;
      if (this.#remoteEnded) this.push(null);
    }
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
    this.#queue = [];
    this.#queueHead = 0;
    // A write waiting for window is dropped with the stream. Node fails the writes still
    // buffered, but the one in progress is ours to fail: its caller (a message's outcome, say)
    // would otherwise wait forever.
    const pending = this.#pending;
    this.#pending = undefined;
    callback(err);
    if (pending !== undefined) process.nextTick(pending.callback, err ?? new AbortedError('the stream was destroyed with a write waiting for window'));
  }
}
