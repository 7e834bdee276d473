/**
 * The identity frame: `version:u8 (=1) | length:u16 BE | PeerIdentityMsg`, the message at most
 * 1024 bytes. Each side writes exactly one frame and then closes its write side; a byte after
 * the frame (before the FIN) is a violation. Sans-I/O: bytes in, the message out.
 */
import { IdentityInvalid } from './errors.js';

/** The only identity frame version (PROTOCOL.md section 5). */
export const IDENTITY_FRAME_VERSION = 1;
/** Largest PeerIdentityMsg in a frame, header excluded (section 5: 1024 bytes). */
export const MAX_IDENTITY_MESSAGE = 1024;

/** `version | length:u16 BE | message`: the one frame each side writes. */
export function encodeIdentityFrame(message: Uint8Array): Uint8Array {
  if (message.length > MAX_IDENTITY_MESSAGE) throw new RangeError(`identity message of ${message.length} bytes exceeds ${MAX_IDENTITY_MESSAGE}`);
  const out = new Uint8Array(3 + message.length);
  out[0] = IDENTITY_FRAME_VERSION;
  out[1] = message.length >> 8;
  out[2] = message.length & 0xff;
  out.set(message, 3);
  return out;
}

/** Reads one identity frame from pushed bytes. */
export class IdentityFrameReader {
  #buffer = new Uint8Array(0);
  #message: Uint8Array | undefined;

  /** The message once the frame is complete. */
  get message(): Uint8Array | undefined {
    return this.#message;
  }

  /** Feeds bytes; returns the message when the frame completes. Throws IdentityInvalid('frame'). */
  push(bytes: Uint8Array): Uint8Array | undefined {
    if (this.#message !== undefined) {
      if (bytes.length > 0) throw new IdentityInvalid('frame', 'bytes after the identity frame');
      return undefined;
    }
    const joined = new Uint8Array(this.#buffer.length + bytes.length);
    joined.set(this.#buffer, 0);
    joined.set(bytes, this.#buffer.length);
    this.#buffer = joined;
    if (this.#buffer.length >= 1 && this.#buffer[0] !== IDENTITY_FRAME_VERSION) throw new IdentityInvalid('frame', `frame version ${this.#buffer[0]}`);
    if (this.#buffer.length < 3) return undefined;
    const length = (this.#buffer[1]! << 8) | this.#buffer[2]!;
    if (length > MAX_IDENTITY_MESSAGE) throw new IdentityInvalid('frame', `message length ${length} exceeds ${MAX_IDENTITY_MESSAGE}`);
    if (this.#buffer.length < 3 + length) return undefined;
    if (this.#buffer.length > 3 + length) throw new IdentityInvalid('frame', 'bytes after the identity frame');
    this.#message = this.#buffer.slice(3, 3 + length);
    this.#buffer = new Uint8Array(0);
    return this.#message;
  }

  /** The peer's FIN: an error unless the frame is complete. */
  end(): Uint8Array {
    if (this.#message === undefined) throw new IdentityInvalid('frame', 'the stream ended before a complete identity frame');
    return this.#message;
  }
}
