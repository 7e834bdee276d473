/** Substream negotiation frames (PROTOCOL.md section 4): `len:u8 | flags:u8 | protocolId`. */
import { NegotiationViolation } from './errors.js';

/** Flag bits. Any other bit is always an error. */
export const NegotiationFlag = { NONE: 0x00, OPTIMISTIC: 0x01, TERMINATE: 0x02, NOT_SUPPORTED: 0x04 } as const;
/** Every defined flag bit. */
export const KNOWN_NEGOTIATION_FLAGS = 0x07;
/** Protocol ids are at most 255 bytes (the length is one byte). */
export const MAX_PROTOCOL_ID_LENGTH = 255;
/** At most this many frames from the opener (its closing TERMINATE included). */
export const MAX_ROUNDS = 5;

/** A decoded frame. `id` is the raw bytes; {@link idText} gives the text. */
export interface NegotiationFrame {
  flags: number;
  id: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** The bytes of a protocol id; throws a RangeError if it is empty or longer than 255 bytes. */
export function protocolIdBytes(id: string): Uint8Array {
  const bytes = encoder.encode(id);
  if (bytes.length === 0 || bytes.length > MAX_PROTOCOL_ID_LENGTH) throw new RangeError(`a protocol id must be 1-255 bytes, got ${bytes.length}`);
  return bytes;
}

/** A frame's bytes. */
export function encodeNegotiationFrame(id: Uint8Array, flags: number): Uint8Array {
  const out = new Uint8Array(2 + id.length);
  out[0] = id.length;
  out[1] = flags;
  out.set(id, 2);
  return out;
}

/** The text of an id (invalid UTF-8 never equals a valid id, so lossy decoding is harmless). */
export function idText(id: Uint8Array): string {
  return decoder.decode(id);
}

/**
 * Decode one frame from the start of `bytes`. Returns the frame and how many bytes it used, or
 * undefined when more bytes are needed. Undefined flag bits are a {@link NegotiationViolation}.
 */
export function decodeNegotiationFrame(bytes: Uint8Array): { frame: NegotiationFrame; used: number } | undefined {
  if (bytes.length < 2) return undefined;
  const len = bytes[0]!;
  const flags = bytes[1]!;
  if ((flags & ~KNOWN_NEGOTIATION_FLAGS) !== 0) throw new NegotiationViolation(`undefined flag bits 0x${flags.toString(16)}`);
  if (bytes.length < 2 + len) return undefined;
  return { frame: { flags, id: bytes.slice(2, 2 + len) }, used: 2 + len };
}
