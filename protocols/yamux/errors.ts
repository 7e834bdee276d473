/** Typed yamux errors. A peer's violation carries the GoAway code the session answers with. */
import { ProtocolError, TcommsError } from '../../core/errors.js';
import { GoAwayCode } from './frame.js';

/** What the peer did wrong. */
export type YamuxViolation =
  | 'bad-version'
  | 'unknown-type'
  | 'unknown-flag'
  | 'bad-stream-id'
  | 'stream-never-existed'
  | 'reused-stream-id'
  | 'window-exceeded'
  | 'window-overflow'
  | 'data-after-fin'
  | 'bad-goaway-code'
  | 'bad-ping'
  | 'ping-flood'
  | 'stream-flood';

/** The peer broke the yamux protocol: the session answers with GoAway(1) and closes. */
export class YamuxProtocolError extends ProtocolError {
  /** The GoAway code to send. */
  readonly goAwayCode = GoAwayCode.ProtocolError;
  constructor(
    readonly violation: YamuxViolation,
    message: string,
    readonly streamId = 0,
  ) {
    super(`yamux protocol violation (${violation}): ${message}`);
  }
}

/** The peer reset a stream (RST). */
export class StreamReset extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly streamId: number) {
    super(`stream ${streamId} was reset by the peer`);
  }
}

/** The session is closed, going away, or refused the stream; no new streams on it. */
export class MuxerClosed extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(reason: string) {
    super(`yamux session closed: ${reason}`);
  }
}

/** This side already has its maximum number of open outbound streams. */
export class StreamLimitReached extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly limit: number) {
    super(`at most ${limit} outbound streams may be open at once`);
  }
}

/** The peer sent GoAway with an error code. */
export class RemoteGoAway extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly code: number) {
    super(`the peer went away with code ${code}`);
  }
}

/** No Ping was answered for the configured number of keepalive intervals. */
export class KeepaliveTimeout extends TcommsError {
  readonly kind = 'timeout' as const;
  constructor(readonly missed: number) {
    super(`${missed} keepalive pings went unanswered`);
  }
}

/**
 * The peer does not read: output queued for it stayed above the bound (`maxPendingOutput`) for
 * `outputStallMs`, or grew past twice the bound. The connection is closed without GoAway.
 */
export class PeerNotReading extends TcommsError {
  readonly kind = 'timeout' as const;
  constructor(
    readonly queuedBytes: number,
    readonly reason: 'stalled' | 'over-limit',
  ) {
    super(reason === 'stalled' ? `the peer read nothing of ${queuedBytes} queued bytes in time` : `${queuedBytes} bytes of output queued for a peer that does not read`);
  }
}
