/**
 * The session's outgoing bytes. Headers and small payloads are copied into a slab so that many
 * small frames leave as one chunk; large payloads are referenced, not copied.
 *
 * The slab is shared by every session of the thread and only ever appended to: bytes handed out
 * are never written again (a full slab is replaced), so a session holds no slab between
 * flushes, and a session that flushes one small frame at a time does not allocate a slab each
 * time (it did: 16 KiB of external memory per flush, which made V8 run a full GC about every
 * thousand request/response round trips).
 */
import { HEADER_LENGTH, writeHeader } from './frame.js';

/** Payloads up to this size are copied next to their header (one chunk instead of two). */
const COPY_LIMIT = 2048;
/** Slab size: one allocation serves about a hundred small frames. */
const SLAB_SIZE = 16 * 1024;
const NO_SLAB = Buffer.alloc(0);

/** The thread's shared slab and where its free space begins. */
let shared: Buffer = NO_SLAB;
let sharedOffset = 0;

/** An append-only queue of frames, taken as a list of chunks. */
export class OutputQueue {
  // This queue's open segment: [#segmentStart, #offset) of #slab (the shared slab it was cut from).
  #slab: Buffer = NO_SLAB;
  #offset = 0;
  #segmentStart = 0;
  #chunks: Uint8Array[] = [];
  #bytes = 0;

  /** Bytes queued and not yet taken. */
  get pendingBytes(): number {
    return this.#bytes;
  }

  /** Queue one frame header. */
  header(type: number, flags: number, streamId: number, length: number): void {
    const at = this.#reserve(HEADER_LENGTH); // first: it may move this queue to a new slab
    writeHeader(this.#slab, at, type, flags, streamId, length);
    this.#bytes += HEADER_LENGTH;
  }

  /** Queue a payload after its header. Large payloads are kept by reference. */
  payload(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    this.#bytes += n;
    if (n <= COPY_LIMIT) {
      const at = this.#reserve(n);
      this.#slab.set(data, at);
      return;
    }
    this.#closeSegment();
    this.#chunks.push(data);
  }

  /** Everything queued so far, in order; the queue is empty afterwards. */
  take(): Uint8Array[] {
    this.#closeSegment();
    this.#slab = NO_SLAB;
    this.#offset = 0;
    this.#segmentStart = 0;
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#bytes = 0;
    return chunks;
  }

  /**
   * Room for `n` bytes in the shared slab; returns where to write them. The open segment grows
   * when it ends where the slab's free space begins (no other queue wrote in between), else it
   * is closed and a new one starts.
   */
  #reserve(n: number): number {
    if (this.#slab !== shared || this.#offset !== sharedOffset || shared.length - sharedOffset < n) {
      this.#closeSegment();
      if (shared.length - sharedOffset < n) {
        shared = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, n));
        sharedOffset = 0;
      }
      this.#slab = shared;
      this.#segmentStart = this.#offset = sharedOffset;
    }
    const at = this.#offset;
    this.#offset += n;
    sharedOffset += n;
    return at;
  }

  #closeSegment(): void {
    if (this.#offset > this.#segmentStart) {
      this.#chunks.push(this.#slab.subarray(this.#segmentStart, this.#offset));
      this.#segmentStart = this.#offset;
    }
  }
}
