/** Typed transport errors. A `transport` kind means "try the next address". */
import { AbortedError, TcommsError, TimeoutError } from '../core/errors.js';

/** The transport does not handle this address (part of the transport contract: fails at once). */
export class UnsupportedAddress extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(
    readonly address: string,
    readonly transport: string,
    readonly reason = 'not handled by this transport',
  ) {
    super(`${transport}: ${address}: ${reason}`);
  }
}

/** Nothing listens at the address (TCP RST, no memory listener, proxy "connection refused"). */
export class ConnectionRefused extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(
    readonly address: string,
    init: { cause?: unknown } = {},
  ) {
    super(`connection refused by ${address}`, init);
  }
}

/** A dial failed for another transport reason; `code` is the system or proxy error code. */
export class DialFailed extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(
    readonly address: string,
    readonly code: string,
    init: { cause?: unknown } = {},
  ) {
    super(`dial ${address} failed: ${code}`, init);
  }
}

/** A dial did not complete within its timeout. */
export class DialTimeout extends TimeoutError {
  constructor(
    readonly address: string,
    readonly timeoutMs: number,
  ) {
    super(`dial ${address} timed out after ${timeoutMs} ms`);
  }
}

/** A dial was cancelled by its AbortSignal. */
export class DialAborted extends AbortedError {
  constructor(readonly address: string) {
    super(`dial ${address} aborted`);
  }
}

/** A listener could not be opened (address in use, not available). */
export class ListenFailed extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(
    readonly address: string,
    readonly code: string,
    init: { cause?: unknown } = {},
  ) {
    super(`listen on ${address} failed: ${code}`, init);
  }
}
