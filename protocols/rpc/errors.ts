/**
 * Typed RPC errors. A peer's protocol error ends that substream only (reset); the connection
 * stays up. Only {@link RpcFrameTooLarge} also makes the receiver report the peer.
 */
import { AbortedError, ConfigError, InternalError, ProtocolError, TcommsError, TimeoutError } from '../../core/errors.js';

/** What the peer did wrong (section 8). */
export type RpcViolation =
  /** A frame declared a protobuf above 4 MiB (reported). */
  | 'frame-too-large'
  /** A frame that does not decode as the message expected. */
  | 'undecodable'
  /** Flag bits other than FIN and ACK, or FIN|ACK. */
  | 'flags'
  /** A frame the session's state does not allow (a request during a call, a frame before the reply, ...). */
  | 'unexpected'
  /** `request_id` 0 outside a ping, or a response for another `request_id`. */
  | 'request-id'
  /** A ping (or its answer) with other fields set. */
  | 'ping'
  /** A cancel of a call that is neither in flight nor the last one. */
  | 'cancel'
  /** A handshake reply that accepts no offered version and does not reject. */
  | 'handshake'
  /** A response frame that breaks the call's rules (unary without FIN, non-Ok without FIN, an item in a stream's end). */
  | 'response'
  /** The substream ended in the middle of a frame. */
  | 'truncated';

/** The peer broke section 8: the receiver resets the substream. */
export class RpcProtocolError extends ProtocolError {
  /** True when section 8 says the receiver also reports the peer (a frame over 4 MiB). */
  readonly report: boolean = false;
  constructor(
    readonly violation: RpcViolation,
    /** What was wrong, without the prefix of `message`. */
    readonly detail: string,
    init: { cause?: unknown } = {},
  ) {
    super(`rpc protocol error (${violation}): ${detail}`, init);
  }
}

/** A frame header declared more than 4 MiB of protobuf; found from the header alone. */
export class RpcFrameTooLarge extends RpcProtocolError {
  override readonly report = true;
  constructor(
    readonly length: number,
    readonly max: number,
  ) {
    super('frame-too-large', `a frame of ${length} bytes is above the maximum of ${max}`);
  }
}

/** The server rejected the session (no violation): `reason` is its `HandshakeRejectReason`. */
export class RpcSessionRejected extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly reason: number) {
    super(`the server rejected the rpc session (reason ${reason})`);
  }
}

/** What an RPC wait was for. */
export type RpcWait = 'handshake' | 'call' | 'ping' | 'cancel' | 'close';

/** An RPC wait ran out; the substream is reset. */
export class RpcTimeout extends TimeoutError {
  constructor(
    readonly wait: RpcWait,
    readonly timeoutMs: number,
  ) {
    super(`rpc ${wait} wait of ${timeoutMs} ms ran out`);
  }
}

/** The peer closed or reset the session while a call or ping waited for it. */
export class RpcSessionClosed extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly how: 'closed' | 'reset' | 'local') {
    super(how === 'local' ? 'the rpc session was closed by this side' : `the peer ${how === 'closed' ? 'closed' : 'reset'} the rpc session`);
  }
}

/** The call was cancelled by its caller. */
export class RpcCallCancelled extends AbortedError {
  constructor(readonly requestId: number) {
    super(`rpc call ${requestId} was cancelled`);
  }
}

/** A command the session's state does not allow (a call while one is in flight, ...): a bug in the caller. */
export class RpcSessionMisuse extends InternalError {
  constructor(
    readonly command: string,
    readonly state: string,
  ) {
    super(`rpc session: ${command} is not allowed in state ${state}`);
  }
}

/** A service definition that section 8 does not allow (no protocol id, a method without a number, ...). */
export class RpcServiceInvalid extends ConfigError {
  constructor(
    readonly service: string,
    detail: string,
  ) {
    super(`rpc service ${service}: ${detail}`);
  }
}

/** A request whose frame would exceed 4 MiB: the caller must send less. */
export class RpcRequestTooLarge extends ConfigError {
  constructor(readonly size: number) {
    super(`an rpc request of ${size} bytes does not fit one frame`);
  }
}
