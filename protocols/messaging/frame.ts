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

/** Push-bytes decoder of message frames; bounded by `maxBody` per message. */
export class MessageFrameDecoder {
  readonly #max: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #need: number | undefined;

  constructor(maxBody = DEFAULT_MAX_MESSAGE_BYTES) {
    this.#max = maxBody;
  }

  /** Bytes held of a message not yet complete. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Adds bytes; returns the bodies completed by them. Throws `MessageTooLarge`. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    for (;;) {
      if (this.#need === undefined) {
        if (this.#buffered < MESSAGE_HEADER_BYTES) return out;
        const header = this.#take(MESSAGE_HEADER_BYTES);
        const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0, false);
        if (length > this.#max) throw new MessageTooLarge(length, this.#max);
        this.#need = length;
      }
      if (this.#buffered < this.#need) return out;
      out.push(this.#take(this.#need));
      this.#need = undefined;
    }
  }

  /**
   * The stream ended: undefined when it ended between frames, otherwise how many bytes of a
   * partial message were lost (reported, not a violation).
   */
  end(): number | undefined {
    if (this.#need === undefined && this.#buffered === 0) return undefined;
    return this.#buffered + (this.#need === undefined ? 0 : MESSAGE_HEADER_BYTES);
  }

  #take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      // The common case: the bytes are in one chunk (no copy).
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - filled);
      out.set(c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}
