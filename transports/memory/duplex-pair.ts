/**
 * Two cross-connected in-memory Duplex streams, like the two ends of a socket: bytes written
 * on one are read on the other (the written buffers themselves, not copies), with backpressure
 * (a write completes only when the other side's readable buffer has room), half-close (`end()` ends the other side's readable) and
 * close (destroying one end ends and closes the other, as a TCP reset would).
 */
import { Duplex } from 'node:stream';

/** Options of a pair. */
export interface DuplexPairInit {
  /** Readable buffering of each end, in bytes (default 64 KiB, like a socket). */
  highWaterMark?: number;
}

class MemoryEnd extends Duplex {
  peer!: MemoryEnd;
  #pendingWrite: (() => void) | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    const peer = this.peer;
    if (peer.destroyed || peer.readableEnded) {
      callback(Object.assign(new Error('write after the peer closed'), { code: 'EPIPE' }));
      return;
    }
    // No copy: as with any Node stream, a writer must not modify a buffer it has written.
    if (peer.push(chunk)) callback();
    else peer.#pendingWrite = () => callback();
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    const peer = this.peer;
    if (peer.destroyed || peer.readableEnded) {
      callback(Object.assign(new Error('write after the peer closed'), { code: 'EPIPE' }));
      return;
    }
    let more = true;
    for (const { chunk } of chunks) more = peer.push(chunk);
    if (more) callback();
    else peer.#pendingWrite = () => callback();
  }

  override _read(): void {
    const resume = this.#pendingWrite;
    this.#pendingWrite = undefined;
    resume?.();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const peer = this.peer;
    // Release a writer stalled on our buffer, and end the peer as a reset would.
    this._read();
    if (!peer.destroyed) {
      if (!peer.readableEnded) peer.push(null);
      peer.destroy();
    }
    callback(err);
  }
}

/** A connected pair of in-memory streams. */
export function duplexPair(init: DuplexPairInit = {}): [Duplex, Duplex] {
  const hwm = init.highWaterMark ?? 64 * 1024;
  const a = new MemoryEnd({ readableHighWaterMark: hwm, writableHighWaterMark: hwm, allowHalfOpen: true });
  const b = new MemoryEnd({ readableHighWaterMark: hwm, writableHighWaterMark: hwm, allowHalfOpen: true });
  a.peer = b;
  b.peer = a;
  return [a, b];
}
