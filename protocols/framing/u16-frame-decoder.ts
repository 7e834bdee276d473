/**
 * Push-bytes decoder for u16 big-endian length-prefixed frames (PROTOCOL.md section 2).
 * Frames wholly inside one pushed chunk are returned as views of it (no copy); a frame that
 * spans chunks is assembled into a buffer of exactly its length, or handed over as its pieces
 * ({@link U16FrameDecoder.pushPieces}). Memory held between pushes is bounded by one frame
 * (its pieces, at most {@link MAX_FRAME_PIECES} of them and at most about twice the frame's
 * length in the buffers behind them, or one copy). The next frames may be given tighter limits
 * ({@link U16FrameDecoder.expectFrames}, the handshake's message lengths): a longer one is
 * refused as soon as its length prefix is read, before any of its body is buffered.
 */
import { concat } from '../../core/bytes.js';
import { FrameTooLarge, UnexpectedEof } from '../noise/errors.js';

/** Bytes of the length prefix. */
export const U16_PREFIX_LENGTH = 2;
/** Largest length a u16 prefix can carry. */
export const U16_MAX = 0xffff;

/**
 * A frame spread over more pushes than this is copied into one buffer of its length: views
 * of tiny chunks would otherwise hold far more memory (one object and one chunk each) than
 * the frame itself.
 */
export const MAX_FRAME_PIECES = 16;

/** Push-bytes decoder of u16 big-endian length-prefixed frames (the Noise transport framing). */
export class U16FrameDecoder {
  /** The frame being received: its length (-1: none), the pieces so far, their total. */
  #length = -1;
  #pieces: Uint8Array[] = [];
  #filled = 0;
  /** The frame copied into one buffer once it came in too many pieces. */
  #compact: Uint8Array | undefined;
  /** Bytes of the buffers behind the pieces (what the pieces keep alive). */
  #pinned = 0;
  /** A lone first prefix byte, or -1. */
  #prefixHigh = -1;
  /** Limits of the next frames, in order (then {@link maxFrameLength}). */
  #limits: number[] = [];

  constructor(readonly maxFrameLength: number = U16_MAX) {}

  /**
   * The next frames, in order, may be at most `limits[i]` bytes each (frames after them:
   * {@link maxFrameLength}). A longer one throws FrameTooLarge when its prefix is read.
   */
  expectFrames(limits: readonly number[]): void {
    this.#limits = [...limits];
  }

  /** Bytes held between pushes (at most one frame plus one prefix byte). */
  get buffered(): number {
    return (this.#length < 0 ? 0 : this.#filled) + (this.#prefixHigh >= 0 ? 1 : 0);
  }

  /** True when no partial frame is held. */
  get idle(): boolean {
    return this.#length < 0 && this.#prefixHigh < 0;
  }

  /**
   * Push bytes; returns every frame completed by them, in order, each as one array: a view of
   * `chunk` when it lies wholly inside it, else assembled into a buffer of exactly its length.
   * Throws FrameTooLarge.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    return this.pushPieces(chunk).map((pieces) => (pieces.length === 1 ? pieces[0]! : concat(pieces)));
  }

  /**
   * Push bytes; returns every frame completed by them, in order, each as the pieces it arrived
   * in: views of the pushed chunks, never copied (but after {@link MAX_FRAME_PIECES} pieces,
   * when the frame is copied into one buffer). The caller must not change a chunk it pushed
   * while a frame may still refer to it. Throws FrameTooLarge.
   */
  pushPieces(chunk: Uint8Array): Uint8Array[][] {
    const frames: Uint8Array[][] = [];
    let offset = 0;
    const end = chunk.length;
    while (offset < end) {
      if (this.#length >= 0) {
        const take = Math.min(this.#length - this.#filled, end - offset);
        this.#add(chunk.subarray(offset, offset + take));
        offset += take;
        if (this.#filled === this.#length) frames.push(this.#take());
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
      const max = this.#limits.length > 0 ? this.#limits.shift()! : this.maxFrameLength;
      if (length > max) throw new FrameTooLarge(length, max);
      if (end - offset >= length) {
        frames.push([chunk.subarray(offset, offset + length)]);
        offset += length;
      } else {
        this.#length = length;
        this.#filled = 0;
      }
    }
    return frames;
  }

  #add(piece: Uint8Array): void {
    // Many pieces, or pieces that keep much larger buffers alive (a byte of a large chunk):
    // copy the frame so far into a buffer of its length, so that it holds nothing else.
    if (this.#compact === undefined && (this.#pieces.length >= MAX_FRAME_PIECES || this.#pinned + piece.buffer.byteLength > 2 * this.#length + 4096)) {
      this.#compact = concat(this.#pieces, this.#length); // room for the whole frame
      this.#pieces = [];
      this.#pinned = 0;
    }
    if (this.#compact !== undefined) this.#compact.set(piece, this.#filled);
    else {
      this.#pieces.push(piece);
      this.#pinned += piece.buffer.byteLength;
    }
    this.#filled += piece.length;
  }

  #take(): Uint8Array[] {
    const frame = this.#compact !== undefined ? [this.#compact] : this.#pieces;
    this.#length = -1;
    this.#pieces = [];
    this.#filled = 0;
    this.#pinned = 0;
    this.#compact = undefined;
    return frame;
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
