/**
 * The tcomms profile of Noise (PROTOCOL.md section 2): XX or IX over 25519/ChaChaPoly/BLAKE2s,
 * the `tcomms-noise-v1` prologue with the network byte, empty payloads, exact message lengths
 * and the dialed-key check. Pure functions shared by the in-thread and worker handshake paths.
 */
import { constantTimeEqual } from '../../core/bytes.js';
import { ConfigError } from '../../core/errors.js';
import { DialedPublicKeyMismatch, NoiseMessageLength, NoisePayloadNotEmpty } from './errors.js';
import { handshakeMessageLengths } from './patterns.js';

/** The patterns a tcomms network may use. XX (default) hides both static keys. */
export type TcommsPattern = 'XX' | 'IX';

/** Prologue prefix: 15 ASCII bytes, followed by the network byte. */
export const PROLOGUE_PREFIX = 'tcomms-noise-v1';
/** The wire byte that selects liveness mode and so can never be a network byte. */
export const LIVENESS_WIRE_BYTE = 0xa7;

/** Validate a network byte (0..255, not 0xa7); throws ConfigError. */
export function assertNetworkByte(networkByte: number): void {
  if (!Number.isInteger(networkByte) || networkByte < 0 || networkByte > 255 || networkByte === LIVENESS_WIRE_BYTE) {
    throw new ConfigError(`network byte must be 0..255 and not 0xa7, got ${networkByte}`);
  }
}

/** The 16-byte prologue of a network. */
export function tcommsPrologue(networkByte: number): Uint8Array {
  assertNetworkByte(networkByte);
  const out = new Uint8Array(PROLOGUE_PREFIX.length + 1);
  out.set(new TextEncoder().encode(PROLOGUE_PREFIX));
  out[PROLOGUE_PREFIX.length] = networkByte;
  return out;
}

const LENGTHS: Readonly<Record<TcommsPattern, readonly number[]>> = {
  XX: handshakeMessageLengths('XX'),
  IX: handshakeMessageLengths('IX'),
};

/** Exact length of handshake message `index` (0-based) with an empty payload. */
export function tcommsHandshakeLength(pattern: TcommsPattern, index: number): number {
  const len = LENGTHS[pattern][index];
  if (len === undefined) throw new ConfigError(`pattern ${pattern} has no message ${index}`);
  return len;
}

/** Number of handshake messages of a pattern. */
export function tcommsHandshakeMessages(pattern: TcommsPattern): number {
  return LENGTHS[pattern].length;
}

/** Throw NoiseMessageLength unless `message` has the exact length of step `index`. */
export function checkHandshakeLength(pattern: TcommsPattern, index: number, message: Uint8Array): void {
  const expected = tcommsHandshakeLength(pattern, index);
  if (message.length !== expected) throw new NoiseMessageLength(expected, message.length, index);
}

/** Throw NoisePayloadNotEmpty unless the decrypted payload is empty. */
export function checkEmptyPayload(payload: Uint8Array): void {
  if (payload.length !== 0) throw new NoisePayloadNotEmpty(payload.length);
}

/**
 * Throw DialedPublicKeyMismatch when the responder's static key is not the expected X25519 key.
 * Called by the initiator as soon as the static key is known (XX: after message 2, before 3).
 */
export function checkDialedKey(expected: Uint8Array | undefined, actual: Uint8Array | undefined): void {
  if (expected === undefined) return;
  if (actual === undefined || !constantTimeEqual(expected, actual)) {
    throw new DialedPublicKeyMismatch(expected, actual ?? new Uint8Array(0));
  }
}

/** Validate a configured pattern name; throws ConfigError. */
export function assertTcommsPattern(pattern: string): asserts pattern is TcommsPattern {
  if (pattern !== 'XX' && pattern !== 'IX') throw new ConfigError(`Noise pattern must be XX or IX, got ${pattern}`);
}
