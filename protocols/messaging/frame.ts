/**
 * Messaging frames (PROTOCOL.md section 6): `length:u32 BE | body`, 0 <= body <= the maximum
 * (8 MiB by default). Sans-I/O: bytes in, whole bodies out.
 */
import { ProtocolError } from '../../core/errors.js';

/** The messaging protocol id. */
export const MESSAGING_PROTOCOL = '/tari/messaging/0.1.0';
/** The default largest body (section 6: 8,388,608 bytes). */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** Bytes of a frame header. */
export const MESSAGE_HEADER_BYTES = 4;

/** A frame announced a body above the maximum: a violation (the substream is reset). */
export class MessageTooLarge extends ProtocolError {
  constructor(
    readonly length: number,
    readonly max: number,
  ) {
    super(`a message of ${length} bytes is above the maximum of ${max}`);
  }
}

/** The 4-byte header of a body of `length` bytes (the body is written after it, not copied). */
export function messageHeader(length: number): Uint8Array {
  const header = new Uint8Array(MESSAGE_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, length, false);
  return header;
}

/** The first buffer small leftovers are gathered into (it doubles as needed). */
const GATHER_MIN = 256;

/** `data` in a buffer of exactly its length (not Node's shared pool, where it would keep 8 KiB alive). */
function exactCopy(data: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafeSlow(data.length);
  out.set(data);
  return out;
}

/** True when keeping `view` would keep alive more than twice its bytes. */
function wasteful(view: Uint8Array): boolean {
  return 2 * view.length < view.buffer.byteLength;
}

/**
 * Push-bytes decoder of message frames; bounded by `maxBody` per message. What it keeps
 * between pushes (a partial frame) is what it needs and little more: the rest of a chunk that
 * is most of its buffer is kept by reference, a smaller rest is copied (gathered with other
 * small ones), so a chunk of 64 KiB is never kept alive for a few bytes. Bodies that are small
 * views of a larger buffer are copied out too. {@link retained} is what it keeps alive, for the
 * handler to charge to the connection's memory budget.
 */
export class MessageFrameDecoder {
  readonly #max: number;
  /** Held pieces, oldest first, and what each keeps alive. */
  #chunks: Uint8Array[] = [];
  #costs: number[] = [];
  #buffered = 0;
  #retained = 0;
  #need: number | undefined;
  /** The buffer small leftovers are gathered into, while it is the last held piece. */
  #gather: Uint8Array | undefined;
  #gatherUsed = 0;

  constructor(maxBody = DEFAULT_MAX_MESSAGE_BYTES) {
    this.#max = maxBody;
  }

  /** Bytes held of a message not yet complete. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Bytes of memory the held pieces keep alive (at least {@link buffered}). */
  get retained(): number {
    return this.#retained;
  }

  /** Adds bytes; returns the bodies completed by them. Throws `MessageTooLarge`. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (chunk.length > 0) this.#hold(chunk, chunk.buffer.byteLength);
    for (;;) {
      if (this.#need === undefined) {
        if (this.#buffered < MESSAGE_HEADER_BYTES) break;
        const header = this.#take(MESSAGE_HEADER_BYTES);
        const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0, false);
        if (length > this.#max) throw new MessageTooLarge(length, this.#max);
        this.#need = length;
      }
      if (this.#buffered < this.#need) break;
      const body = this.#take(this.#need);
      out.push(body.length > 0 && wasteful(body) ? exactCopy(body) : body);
      this.#need = undefined;
    }
    this.#trimFirst();
    this.#trimLast(chunk);
    return out;
  }

  /**
   * The stream ended: undefined when it ended between frames, otherwise how many bytes of a
   * partial message were lost (reported, not a violation).
   */
  end(): number | undefined {
    if (this.#need === undefined && this.#buffered === 0) return undefined;
    return this.#buffered + (this.#need === undefined ? 0 : MESSAGE_HEADER_BYTES);
  }

  #hold(piece: Uint8Array, cost: number): void {
    this.#chunks.push(piece);
    this.#costs.push(cost);
    this.#buffered += piece.length;
    this.#retained += cost;
  }

  /** The oldest piece, when frames took most of it: copy the rest, so it keeps nothing else alive. */
  #trimFirst(): void {
    if (this.#chunks.length < 2) return; // a lone piece is the last one
    const first = this.#chunks[0]!;
    if (first.buffer === this.#gather?.buffer || !wasteful(first)) return;
    const copy = exactCopy(first);
    this.#retained += copy.length - this.#costs[0]!;
    this.#chunks[0] = copy;
    this.#costs[0] = copy.length;
  }

  /** What is left of `chunk` after this push, when it is a small part of its buffer: copy it. */
  #trimLast(chunk: Uint8Array): void {
    const last = this.#chunks.length - 1;
    if (last < 0 || this.#chunks[last]!.buffer !== chunk.buffer || chunk.length === 0) return;
    const rest = this.#chunks[last]!;
    if (!wasteful(rest)) {
      this.#gather = undefined; // kept by reference after it: the gathering buffer is no longer last
      return;
    }
    this.#chunks.pop();
    this.#retained -= this.#costs.pop()!;
    this.#buffered -= rest.length;
    this.#gatherInto(rest);
  }

  /** Append a small leftover to the gathering buffer (growing it, or beginning one). */
  #gatherInto(data: Uint8Array): void {
    const n = data.length;
    let g = this.#gather;
    const last = this.#chunks.length - 1;
    if (g !== undefined && g.length - this.#gatherUsed < n) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * g.length, this.#gatherUsed + n));
      grown.set(g.subarray(0, this.#gatherUsed));
      this.#retained += grown.length - g.length;
      this.#costs[last] = grown.length;
      this.#gather = g = grown;
    }
    if (g === undefined) {
      g = this.#gather = Buffer.allocUnsafeSlow(Math.max(GATHER_MIN, n));
      this.#gatherUsed = 0;
      this.#hold(g.subarray(0, 0), g.length);
    }
    g.set(data, this.#gatherUsed);
    this.#gatherUsed += n;
    this.#chunks[this.#chunks.length - 1] = g.subarray(0, this.#gatherUsed);
    this.#buffered += n;
  }

  #take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    // Taking from the held pieces closes the gathering buffer (appends go after what is taken).
    this.#gather = undefined;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      // The common case: the bytes are in one piece (no copy).
      const out = first.subarray(0, n);
      if (first.length === n) this.#shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafeSlow(n); // every byte is written below
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - filled);
      out.set(c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) this.#shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }

  #shift(): void {
    this.#chunks.shift();
    this.#retained -= this.#costs.shift()!;
  }
}
