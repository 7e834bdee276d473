/** Errors of the stream shells. */
import { AbortedError, TcommsError, TimeoutError } from '../core/errors.js';

/** A handshake receive did not complete within `noiseHandshakeRecvTimeout`. */
export class HandshakeTimeout extends TimeoutError {
  constructor(readonly timeoutMs: number) {
    super(`Noise handshake receive timed out after ${timeoutMs} ms`);
  }
}

/** The handshake was cancelled by its AbortSignal. */
export class HandshakeAborted extends AbortedError {
  constructor(cause?: unknown) {
    super('Noise handshake aborted', { cause });
  }
}

/**
 * The peer's Noise static key is banned: the connection was closed right after the handshake,
 * before this side wrote anything more (no yamux, no identity claim).
 */
export class PeerBanned extends TcommsError {
  readonly kind = 'peer' as const;
  constructor(readonly noiseStatic: Uint8Array) {
    super('the peer is banned');
  }
}
