/** Typed Noise errors. Peer misbehaviour is a protocol error; a wrong key is a peer error. */
import { ProtocolError, TcommsError } from '../../core/errors.js';

export { DecryptionFailed, LowOrderPoint } from '../../core/crypto/provider.js';

/** A handshake message had the wrong length for its pattern step. */
export class NoiseMessageLength extends ProtocolError {
  constructor(readonly expected: number, readonly actual: number, readonly step: number) {
    super(`Noise handshake message ${step + 1} must be ${expected} bytes, got ${actual}`);
  }
}

/** A handshake message carried a payload where tcomms requires it to be empty. */
export class NoisePayloadNotEmpty extends ProtocolError {
  constructor(readonly length: number) {
    super(`Noise handshake payload must be empty, got ${length} bytes`);
  }
}

/** A transport cipher ran out of nonces (2^64 - 1 is reserved). */
export class NonceExhausted extends ProtocolError {
  constructor() {
    super('Noise nonce space exhausted');
  }
}

/** A length-prefixed frame was longer than allowed. */
export class FrameTooLarge extends ProtocolError {
  constructor(readonly length: number, readonly max: number) {
    super(`frame of ${length} bytes exceeds the maximum of ${max}`);
  }
}

/** The peer closed the stream in the middle of a frame or of the handshake. */
export class UnexpectedEof extends ProtocolError {
  constructor(what: string) {
    super(`stream ended during ${what}`);
  }
}

/** The responder's static key is not the X25519 form of the key that was dialed. */
export class DialedPublicKeyMismatch extends TcommsError {
  readonly kind = 'peer' as const;
  constructor(readonly expected: Uint8Array, readonly actual: Uint8Array) {
    super('responder static key does not match the dialed public key');
  }
}

/** The handshake API was used out of turn (a bug in the caller). */
export class HandshakeMisuse extends TcommsError {
  readonly kind = 'internal' as const;
}
