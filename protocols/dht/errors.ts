/**
 * Typed DHT errors. The receiver's judgement ({@link judgeEnvelope}) never throws: it returns a
 * verdict and a reason. These errors come from the codec functions used on their own.
 */
import { ProtocolError } from '../../core/errors.js';

/** Bytes that are not a valid encoding of the named DHT message. */
export class DhtDecodeError extends ProtocolError {
  constructor(
    /** The protobuf message name, e.g. `DhtEnvelope`. */
    readonly messageName: string,
    readonly detail: string,
    init: { cause?: unknown } = {},
  ) {
    super(`not a valid ${messageName}: ${detail}`, init);
  }
}
