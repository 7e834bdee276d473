/** Typed negotiation errors. Each ends one substream only; the connection stays up. */
import { ProtocolError, TcommsError, TimeoutError } from '../../core/errors.js';

/** None of the opener's protocols is supported by the peer. */
export class ProtocolNotSupported extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly protocols: readonly string[]) {
    super(`the peer supports none of: ${protocols.join(', ')}`);
  }
}

/** The peer ended the negotiation (TERMINATE). */
export class ProtocolNegotiationTerminatedByPeer extends TcommsError {
  readonly kind = 'transport' as const;
  constructor() {
    super('the peer terminated the protocol negotiation');
  }
}

/** A frame or reply the protocol does not describe: the substream is reset. */
export class NegotiationViolation extends ProtocolError {
  constructor(detail: string) {
    super(`protocol negotiation violation: ${detail}`);
  }
}

/** The negotiation did not finish in time (10 s by default). */
export class NegotiationTimeout extends TimeoutError {
  constructor(readonly timeoutMs: number) {
    super(`protocol negotiation did not finish within ${timeoutMs} ms`);
  }
}
