/** Errors of the stream shells. */
import { AbortedError, TimeoutError } from '../core/errors.js';

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
