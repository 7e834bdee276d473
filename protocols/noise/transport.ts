/**
 * The Noise transport phase as a sans-I/O byte stream (PROTOCOL.md section 2): plaintext in,
 * framed ciphertext chunks out; framed ciphertext in, plaintext chunks out. Writes larger than
 * 65519 bytes are split; message boundaries carry no meaning on the receiving side.
 */
import { TAG_LENGTH } from '../../core/crypto/provider.js';
import { U16FrameDecoder, U16_MAX, U16_PREFIX_LENGTH } from '../framing/u16-frame-decoder.js';
import type { CipherState } from './cipher-state.js';
import { DecryptionFailed } from './errors.js';

/** Largest ciphertext of one transport message (the u16 prefix bound). */
export const MAX_CIPHERTEXT = U16_MAX;
/** Largest plaintext of one transport message: 65535 - 16 (tag). */
export const MAX_PLAINTEXT = MAX_CIPHERTEXT - TAG_LENGTH;

/** Views of `plaintext` of at most 65519 bytes each; an empty plaintext gives one empty view. */
export function splitPlaintext(plaintext: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  do {
    const end = Math.min(offset + MAX_PLAINTEXT, plaintext.length);
    out.push(plaintext.subarray(offset, end));
    offset = end;
  } while (offset < plaintext.length);
  return out;
}

/** Encrypts outbound plaintext into framed Noise transport messages. */
export class NoiseEncoder {
  constructor(readonly cipher: CipherState) {}

  /** Frame and encrypt `plaintext`; appends the wire chunks to `out` (returned). */
  encrypt(plaintext: Uint8Array, out: Uint8Array[] = []): Uint8Array[] {
    for (const piece of splitPlaintext(plaintext)) this.#frame(this.cipher.sealParts(piece, U16_PREFIX_LENGTH), piece.length, out);
    return out;
  }

  /** Write the u16 length of a sealed message into its free prefix and append its parts to `out`. */
  #frame(parts: Uint8Array[], plaintextLength: number, out: Uint8Array[]): void {
    const length = plaintextLength + TAG_LENGTH;
    const head = parts[0]!;
    head[0] = length >> 8;
    head[1] = length & 0xff;
    for (const p of parts) out.push(p);
  }

  /**
   * Frame and encrypt the concatenation of `chunks` (writes that queued up): every message but
   * the last is full (65519 bytes of plaintext, taken across chunk boundaries without copying),
   * where encrypting each chunk alone would end each in a short message. Appends the wire
   * chunks to `out` (returned). Empty chunks add nothing; all empty gives one empty message.
   */
  encryptv(chunks: readonly Uint8Array[], out: Uint8Array[] = []): Uint8Array[] {
    if (chunks.length === 1) return this.encrypt(chunks[0]!, out);
    this.#sealAcross(chunks, out, false);
    return out;
  }

  /**
   * As {@link encryptv}, but only full messages are sealed: the plaintext after the last full
   * message (fewer than 65519 bytes, as views of `chunks`) is returned instead, for the caller
   * to send in front of later writes. Appends the wire chunks to `out`; returns `[]` when the
   * input ends on a message boundary (or is empty).
   */
  encryptFull(chunks: readonly Uint8Array[], out: Uint8Array[]): Uint8Array[] {
    return this.#sealAcross(chunks, out, true);
  }

  #sealAcross(chunks: readonly Uint8Array[], out: Uint8Array[], keepTail: boolean): Uint8Array[] {
    let pieces: Uint8Array[] = [];
    let filled = 0;
    let any = false;
    const flush = () => {
      const parts = pieces.length === 1 ? this.cipher.sealParts(pieces[0]!, U16_PREFIX_LENGTH) : this.cipher.sealPieces(pieces, U16_PREFIX_LENGTH);
      this.#frame(parts, filled, out);
      pieces = [];
      filled = 0;
      any = true;
    };
    for (const chunk of chunks) {
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(MAX_PLAINTEXT - filled, chunk.length - offset);
        pieces.push(chunk.subarray(offset, offset + take));
        filled += take;
        offset += take;
        if (filled === MAX_PLAINTEXT) flush();
      }
    }
    if (keepTail) return pieces;
    if (filled > 0 || !any) {
      if (pieces.length === 0) pieces.push(new Uint8Array(0));
      flush();
    }
    return [];
  }

  /** The next nonce this encoder will use. */
  get nonce(): bigint {
    return this.cipher.nonce;
  }
}

/** Decrypts inbound framed Noise transport messages into plaintext. */
export class NoiseDecoder {
  readonly #frames: U16FrameDecoder;

  /** `frames` lets a handshake reader hand over its decoder with any partial frame in it. */
  constructor(readonly cipher: CipherState, frames: U16FrameDecoder = new U16FrameDecoder(MAX_CIPHERTEXT)) {
    this.#frames = frames;
  }

  /** Decrypt one complete frame (without its prefix) into `out`. */
  decryptFrame(frame: Uint8Array, out: Uint8Array[] = []): Uint8Array[] {
    if (frame.length < TAG_LENGTH) throw new DecryptionFailed('transport frame shorter than the tag');
    const plaintext = this.cipher.open(frame);
    if (plaintext.length > 0) out.push(plaintext);
    return out;
  }

  /**
   * Push wire bytes and decrypt what they complete, taking a message that arrived in several
   * chunks without reassembling it (see {@link U16FrameDecoder.pushPieces}). Plaintext of a
   * message is released only once its tag verified. Throws as {@link decrypt}.
   */
  decryptPieces(bytes: Uint8Array, out: Uint8Array[] = []): Uint8Array[] {
    for (const pieces of this.#frames.pushPieces(bytes)) {
      if (pieces.length === 1) {
        this.decryptFrame(pieces[0]!, out);
        continue;
      }
      for (const p of this.cipher.openPieces(pieces)) if (p.length > 0) out.push(p);
    }
    return out;
  }

  /** Split wire bytes into complete frames without decrypting them (for batch decryption). */
  frames(bytes: Uint8Array): Uint8Array[] {
    return this.#frames.push(bytes);
  }

  /**
   * Push wire bytes; returns the plaintext they complete (empty messages add nothing).
   * Throws DecryptionFailed (fatal to the connection) or NonceExhausted.
   */
  decrypt(bytes: Uint8Array, out: Uint8Array[] = []): Uint8Array[] {
    for (const frame of this.#frames.push(bytes)) this.decryptFrame(frame, out);
    return out;
  }

  /** Bytes of an incomplete frame held until more arrive. */
  get buffered(): number {
    return this.#frames.buffered;
  }

  /** True when no partial frame is held (the stream may end here). */
  get idle(): boolean {
    return this.#frames.idle;
  }

  /** Call at end of stream: throws UnexpectedEof when a frame is incomplete. */
  end(): void {
    this.#frames.end();
  }
}
