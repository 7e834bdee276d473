/**
 * Push-bytes decoder for u16 big-endian length-prefixed frames (PROTOCOL.md section 2).
 * Frames wholly inside one pushed chunk are returned as views of it (no copy); a frame that
 * spans chunks is assembled into a buffer of exactly its length. Memory held between pushes is
 * bounded by one frame.
 */
import { FrameTooLarge, UnexpectedEof } from '../noise/errors.js';

/** Bytes of the length prefix. */
export const U16_PREFIX_LENGTH = 2;
/** Largest length a u16 prefix can carry. */
export const U16_MAX = 0xffff;

/** Push-bytes decoder of u16 big-endian length-prefixed frames (the Noise transport framing). */
export class U16FrameDecoder {
  /** Partial frame being assembled, and how much of it is filled. */
  #partial: Uint8Array | undefined;
  #filled = 0;
  /** A lone first prefix byte, or -1. */
  #prefixHigh = -1;

  constructor(readonly maxFrameLength: number = U16_MAX) {}

  /** Bytes held between pushes (at most one frame plus one prefix byte). */
  get buffered(): number {
    return (this.#partial === undefined ? 0 : this.#filled) + (this.#prefixHigh >= 0 ? 1 : 0);
  }

  /** True when no partial frame is held. */
  get idle(): boolean {
    return this.#partial === undefined && this.#prefixHigh < 0;
  }

  /** Push bytes; returns every frame completed by them, in order. Throws FrameTooLarge. */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let offset = 0;
    const end = chunk.length;
    while (offset < end) {
      if (this.#partial !== undefined) {
        const take = Math.min(this.#partial.length - this.#filled, end - offset);
        this.#partial.set(chunk.subarray(offset, offset + take), this.#filled);
        this.#filled += take;
        offset += take;
        if (this.#filled === this.#partial.length) {
          frames.push(this.#partial);
          this.#partial = undefined;
        }
        continue;
      }
      let length: number;
      if (this.#prefixHigh >= 0) {
        length = (this.#prefixHigh << 8) | chunk[offset]!;
        this.#prefixHigh = -1;
        offset += 1;
      } else if (end - offset >= U16_PREFIX_LENGTH) {
        length = (chunk[offset]! << 8) | chunk[offset + 1]!;
        offset += U16_PREFIX_LENGTH;
      } else {
        this.#prefixHigh = chunk[offset]!;
        offset += 1;
        continue;
      }
      if (length > this.maxFrameLength) throw new FrameTooLarge(length, this.maxFrameLength);
      if (end - offset >= length) {
        frames.push(chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        this.#partial = new Uint8Array(length);
        this.#filled = 0;
      }
    }
    return frames;
  }

  /** Call at end of stream: throws UnexpectedEof when a frame is incomplete. */
  end(): void {
    if (!this.idle) throw new UnexpectedEof('a length-prefixed frame');
  }
}

/** Prefix `body` with its u16 BE length (one new buffer). */
export function encodeU16Frame(body: Uint8Array): Uint8Array {
  if (body.length > U16_MAX) throw new FrameTooLarge(body.length, U16_MAX);
  const out = new Uint8Array(U16_PREFIX_LENGTH + body.length);
  out[0] = body.length >> 8;
  out[1] = body.length & 0xff;
  out.set(body, U16_PREFIX_LENGTH);
  return out;
}
