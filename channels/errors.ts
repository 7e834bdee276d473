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

/** How the peer's side of a secure channel ended without a clean end ({@link SecureChannelDropped}). */
export type SecureChannelDropReason =
  /** Its stream ended inside a Noise transport frame. */
  | 'truncated-frame'
  /** It closed while this side was writing. */
  | 'closed-while-writing'
  /** The channel was destroyed with one of our writes held back. */
  | 'destroyed-with-write-pending';

/**
 * The connection under a secure channel was lost: it ended inside a Noise transport frame, or
 * closed while this side was writing. A dropped connection (a network failure, a killed
 * process, a reset on the way) looks exactly like that, and nothing of it was authenticated,
 * so it is a transport failure, never the peer's violation: no penalty, no ban. (A Noise frame
 * that arrived whole and fails to open is the violation: DecryptionFailed.)
 */
export class SecureChannelDropped extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly reason: SecureChannelDropReason) {
    super(
      reason === 'truncated-frame'
        ? 'the connection ended inside a Noise transport frame'
        : reason === 'closed-while-writing'
          ? 'the connection closed while we were writing'
          : 'the secure channel was destroyed with a write pending',
    );
  }
}
