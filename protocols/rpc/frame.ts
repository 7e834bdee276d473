/**
 * RPC frames (PROTOCOL.md section 8): `length:u32 BE | protobuf`, the protobuf at most
 * 4,194,304 bytes. Sans-I/O: bytes in, whole protobufs out.
 */
import { RpcFrameTooLarge } from './errors.js';
import { MAX_RPC_FRAME_BYTES, RPC_FRAME_HEADER_BYTES } from './limits.js';

/** A frame: the header, then `protobuf` (copied once). */
export function encodeRpcFrame(protobuf: Uint8Array): Uint8Array {
  const out = new Uint8Array(RPC_FRAME_HEADER_BYTES + protobuf.length);
  writeFrameHeader(out, protobuf.length);
  out.set(protobuf, RPC_FRAME_HEADER_BYTES);
  return out;
}

/** Writes the header of a `length`-byte protobuf at the start of `out`. */
export function writeFrameHeader(out: Uint8Array, length: number): void {
  out[0] = length >>> 24;
  out[1] = (length >>> 16) & 0xff;
  out[2] = (length >>> 8) & 0xff;
  out[3] = length & 0xff;
}

/**
 * Push-bytes decoder of RPC frames. Any chunking of a byte stream gives the same frames.
 *
 * Memory: a frame is returned as a view of the input chunk only when it fills at least half of
 * that chunk; otherwise, and for every frame that spans chunks, its bytes are copied. Bytes of a
 * frame not yet complete are always copied. So the decoder keeps no input chunk alive, a
 * returned frame keeps at most twice its size alive, and {@link RpcFrameDecoder.buffered} is
 * exactly what the decoder holds (`Buffer` chunks included: copies never use `Buffer#slice`).
 */
export class RpcFrameDecoder {
  readonly #max: number;
  readonly #header = new Uint8Array(RPC_FRAME_HEADER_BYTES);
  #headerFill = 0;
  /** The protobuf length of the frame being read, once its header is complete. */
  #need: number | undefined;
  /** Copied pieces of the frame being read. */
  #pieces: Uint8Array[] = [];
  #filled = 0;

  /** `max` is the largest protobuf accepted (4 MiB; smaller values are for tests). */
  constructor(max = MAX_RPC_FRAME_BYTES) {
    this.#max = max;
  }

  /** Bytes held of a frame not yet complete: a partial header, or the body received so far. */
  get buffered(): number {
    return this.#headerFill + this.#filled;
  }

  /** True between frames (no partial frame held). */
  get atBoundary(): boolean {
    return this.#headerFill === 0 && this.#need === undefined;
  }

  /**
   * The frames completed by `chunk`, in order, as they are decoded. A header that declares
   * more than the maximum throws {@link RpcFrameTooLarge} at its place in the stream, before
   * any of its body is buffered; the decoder is unusable afterwards.
   */
  *decode(chunk: Uint8Array): Generator<Uint8Array, void, undefined> {
    let at = 0;
    while (at < chunk.length) {
      if (this.#need === undefined) {
        if (this.#headerFill === 0 && chunk.length - at >= RPC_FRAME_HEADER_BYTES) {
          this.#need = this.#checkLength(readU32(chunk, at));
          at += RPC_FRAME_HEADER_BYTES;
        } else {
          const k = Math.min(RPC_FRAME_HEADER_BYTES - this.#headerFill, chunk.length - at);
          this.#header.set(chunk.subarray(at, at + k), this.#headerFill);
          this.#headerFill += k;
          at += k;
          if (this.#headerFill < RPC_FRAME_HEADER_BYTES) return;
          this.#need = this.#checkLength(readU32(this.#header, 0));
        }
        this.#headerFill = 0;
      }
      const need = this.#need;
      const available = chunk.length - at;
      if (this.#filled === 0 && available >= need) {
        // The whole protobuf is in this chunk: a view when it is most of the chunk, else a copy.
        const frame = chunk.subarray(at, at + need);
        at += need;
        this.#need = undefined;
        yield 2 * need >= chunk.length ? frame : copyOf(frame);
        continue;
      }
      const k = Math.min(need - this.#filled, available);
      this.#pieces.push(copyOf(chunk.subarray(at, at + k)));
      this.#filled += k;
      at += k;
      if (this.#filled < need) return;
      const frame = joinPieces(this.#pieces, need);
      this.#pieces = [];
      this.#filled = 0;
      this.#need = undefined;
      yield frame;
    }
  }

  #checkLength(length: number): number {
    if (length > this.#max) throw new RpcFrameTooLarge(length, this.#max);
    return length;
  }
}

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** A copy in a new buffer (`Buffer#slice` would give a view, so it is not used). */
function copyOf(view: Uint8Array): Uint8Array {
  const out = new Uint8Array(view.length);
  out.set(view);
  return out;
}

function joinPieces(pieces: readonly Uint8Array[], length: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of pieces) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
