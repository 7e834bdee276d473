/**
 * One store-and-forward request's mailbox (PROTOCOL.md 9.7: an actor per request in flight,
 * `safRequest:<NodeId hex>`, a child of the `saf` component): the verdict on the response the
 * data path took for it, and cancellation. It reports how it ended with a {@link SafRequestReport}.
 */
import type { PlainError } from '../../core/errors.js';

/** How a request ended. */
export type SafRequestOutcome =
  /** A response came in time; its messages were handed to the pipeline and `since` advanced. */
  | 'answered'
  /** The response broke 9.7 (more messages than asked, or a bad envelope): the peer was reported. */
  | 'rejected'
  /** No response within the response timeout (9.7: 120 s). */
  | 'timed-out'
  /** The request could not be written. */
  | 'failed'
  /** The peer disconnected, or the node stopped. */
  | 'cancelled';

/** What the `saf` component and the data path may send a request. */
export type SafRequestInbox =
  /** The data path took the response: `messages` in it, the largest `stored_at` among them (none when empty). */
  | { type: 'saf-request.answered'; messages: number; lastStoredAt: bigint | undefined }
  /** The data path found the response in breach of 9.7 (`reason`), and reported the peer. */
  | { type: 'saf-request.rejected'; reason: string }
  | { type: 'saf-request.cancel' };

/** Everything a request receives. */
export type SafRequestEvent = SafRequestInbox;

/** What a request tells the `saf` component when it ends. `key`: the peer's public key hex. */
export type SafRequestReport = { type: 'saf.request-ended'; key: string; outcome: SafRequestOutcome; messages: number; error: PlainError | undefined };
