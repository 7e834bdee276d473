/**
 * The bytes a stream received and its reader has not taken yet, charged to the connection's
 * {@link MemoryBudget} by what they keep alive. Data arrives as views of the decrypted
 * connection buffers (up to 64 KiB each): a view that is most of its buffer is kept by
 * reference and charged the whole buffer; a smaller one is copied (a peer could otherwise pin
 * 64 KiB with each byte it sends), small copies gathered into one buffer that grows as
 * needed, so a trickle of tiny frames costs neither a buffer nor a list slot each.
 */
import type { MemoryBudget } from '../../core/budget.js';

/** Charged per kept chunk on top of its bytes: the view object and its list slot. */
export const ENTRY_OVERHEAD = 96;
/** The first gathering buffer (it doubles while small data keeps coming). */
const GATHER_MIN = 1024;
/** The largest gathering buffer; a full one is closed and a new one begun. */
const GATHER_MAX = 16 * 1024;
/** Copies larger than this get a buffer of their own instead of joining the gathering one. */
const GATHER_PIECE_MAX = 4 * 1024;

/** What keeping `data` by reference keeps alive: the whole buffer behind it. */
export function heldSize(data: Uint8Array): number {
  return data.buffer.byteLength + ENTRY_OVERHEAD;
}

/** A copy of `data` in a buffer of exactly its length (not Node's shared pool). */
function exactCopy(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(data.length);
  out.set(data);
  return out;
}

/** A FIFO of received chunks with what each is charged. */
export class ReceiveQueue {
  #chunks: Uint8Array[] = [];
  #charges: number[] = [];
  #head = 0;
  #bytes = 0;
  /** The buffer small copies are gathered into; it is the last entry while open. */
  #gather: Buffer | undefined;
  #gatherUsed = 0;
  /** The charge of the chunk {@link shift} returned last. */
  lastCharge = 0;

  constructor(readonly memory: MemoryBudget) {}

  /** Unread bytes. */
  get length(): number {
    return this.#bytes;
  }

  /** True when nothing is queued. */
  get empty(): boolean {
    return this.#head === this.#chunks.length;
  }

  /** Bytes charged for what is queued. */
  get charged(): number {
    let n = 0;
    for (let i = this.#head; i < this.#charges.length; i++) n += this.#charges[i]!;
    return n;
  }

  /** Keep `data` (by reference if it is most of its buffer, else copied) and charge it. */
  push(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    this.#bytes += n;
    if (2 * n >= data.buffer.byteLength) {
      this.#gather = undefined;
      this.#add(data, heldSize(data));
      return;
    }
    if (n > GATHER_PIECE_MAX) {
      this.#gather = undefined;
      this.#add(exactCopy(data), n + ENTRY_OVERHEAD);
      return;
    }
    this.#gatherInto(data);
  }

  /**
   * The oldest chunk, or undefined; its charge is {@link lastCharge}, which the caller now
   * owns (it releases it once the bytes are gone). A mostly empty gathering buffer is cut to
   * size first, so that what the reader holds is charged what it keeps alive.
   */
  shift(): Uint8Array | undefined {
    if (this.#head === this.#chunks.length) return undefined;
    const i = this.#head;
    let chunk = this.#chunks[i]!;
    let charge = this.#charges[i]!;
    if (this.#gather !== undefined && i === this.#chunks.length - 1) {
      // The open gathering buffer leaves: close it, at its size if it is mostly empty.
      if (2 * this.#gatherUsed < this.#gather.length) {
        chunk = exactCopy(chunk);
        this.memory.release(charge - chunk.length - ENTRY_OVERHEAD);
        charge = chunk.length + ENTRY_OVERHEAD;
      }
      this.#gather = undefined;
    }
    this.#chunks[i] = undefined as never;
    this.#head++;
    this.#bytes -= chunk.length;
    this.lastCharge = charge;
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#charges = [];
      this.#head = 0;
    }
    return chunk;
  }

  /** Drops everything and releases its charges. */
  clear(): void {
    this.memory.release(this.charged);
    this.#chunks = [];
    this.#charges = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#gather = undefined;
  }

  #add(chunk: Uint8Array, charge: number): void {
    this.#chunks.push(chunk);
    this.#charges.push(charge);
    this.memory.charge(charge);
  }

  /** Append a small copy to the gathering buffer, growing it or starting a new one as needed. */
  #gatherInto(data: Uint8Array): void {
    const n = data.length;
    const last = this.#chunks.length - 1;
    let g = this.#gather;
    if (g !== undefined && g.length - this.#gatherUsed < n && g.length < GATHER_MAX) {
      // Grow the open buffer (its bytes are copied once more; it is small).
      const grown = Buffer.allocUnsafeSlow(Math.min(GATHER_MAX, Math.max(2 * g.length, this.#gatherUsed + n)));
      grown.set(g.subarray(0, this.#gatherUsed));
      this.memory.charge(grown.length - g.length);
      this.#charges[last] = this.#charges[last]! + grown.length - g.length;
      this.#gather = g = grown;
    }
    if (g === undefined || g.length - this.#gatherUsed < n) {
      // None open, or the open one is full at its largest: begin a new one.
      const size = g === undefined ? Math.max(GATHER_MIN, n) : GATHER_MAX;
      this.#gather = g = Buffer.allocUnsafeSlow(size);
      this.#gatherUsed = 0;
      this.#add(g.subarray(0, 0), size + ENTRY_OVERHEAD);
    }
    g.set(data, this.#gatherUsed);
    this.#gatherUsed += n;
    this.#chunks[this.#chunks.length - 1] = g.subarray(0, this.#gatherUsed);
  }
}
