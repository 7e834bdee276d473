/**
 * Two cross-connected in-memory Duplex streams, like the two ends of a socket: bytes written
 * on one are read on the other (the written buffers themselves, not copies), with backpressure
 * (a write completes only when the other side's readable buffer has room), half-close (`end()` ends the other side's readable) and
 * close: destroying an end that has ended its side and has nothing unread closes it as TCP closes
 * such a socket (FIN already sent, no reset): the other side reads what it was sent, then its
 * end, and its writes fail from then on; destroying an end otherwise (before its end, with data
 * unread, or with an error) ends and closes the other at once, as a TCP reset would.
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
    // Release a writer stalled on our buffer.
    this._read();
    // A graceful close: the peer keeps what this end sent it, its end behind it (see the module comment).
    const graceful = err === null && this.writableFinished && this.readableLength === 0;
    if (!peer.destroyed && !graceful) {
      // A reset: the peer's unread data goes with it.
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
