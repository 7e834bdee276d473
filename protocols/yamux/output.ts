/**
 * The session's outgoing bytes. Headers and small payloads are copied into a slab so that many
 * small frames leave as one chunk; large payloads are referenced, not copied.
 */
import { HEADER_LENGTH, writeHeader } from './frame.js';

/** Payloads up to this size are copied next to their header (one chunk instead of two). */
const COPY_LIMIT = 2048;
/** Slab size: one allocation serves about a hundred small frames. */
const SLAB_SIZE = 16 * 1024;
const NO_SLAB = Buffer.alloc(0);

/** An append-only queue of frames, taken as a list of chunks. */
export class OutputQueue {
  // Allocated on demand and dropped when the output is taken, so an idle session holds none.
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
    this.#reserve(HEADER_LENGTH);
    writeHeader(this.#slab, this.#offset, type, flags, streamId, length);
    this.#offset += HEADER_LENGTH;
    this.#bytes += HEADER_LENGTH;
  }

  /** Queue a payload after its header. Large payloads are kept by reference. */
  payload(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    this.#bytes += n;
    if (n <= COPY_LIMIT) {
      this.#reserve(n);
      this.#slab.set(data, this.#offset);
      this.#offset += n;
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

  #reserve(n: number): void {
    if (this.#slab.length - this.#offset >= n) return;
    this.#closeSegment();
    // Bytes already handed out stay valid: a full slab is replaced, never rewound.
    this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, n));
    this.#offset = 0;
    this.#segmentStart = 0;
  }

  #closeSegment(): void {
    if (this.#offset > this.#segmentStart) {
      this.#chunks.push(this.#slab.subarray(this.#segmentStart, this.#offset));
      this.#segmentStart = this.#offset;
    }
  }
}
