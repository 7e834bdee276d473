/** Store-and-forward's typed errors. */
import { RequestFailed, TcommsError } from '../../core/errors.js';

/** A SAF request could not be written to the peer: `error` is messaging's reason (its kind: transport, aborted, ...). */
export class SafRequestUnwritten extends RequestFailed {}

/** Store-and-forward is not running (the node stopped, or has not attached it yet). */
export class SafNotRunning extends TcommsError {
  readonly kind = 'aborted' as const;
}
