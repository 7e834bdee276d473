/** The DHT's typed errors (the outcomes of `node.dht.send` carry them in plain form). */
import { RequestFailed, TcommsError } from '../../core/errors.js';

/** A DHT message could not be sent: `error.name` says why (NoPeers, SendToSelf, DestinationRequired, MessageTooLarge, ...). */
export class DhtSendFailed extends RequestFailed {
  /** The failure as reported (its own name, not this class's). */
  override toPlain() {
    return this.error;
  }
}

/** A discovery ended without the target's claim (DiscoveryTimeout, DiscoveryFailed, DiscoveryCancelled, TooManyDiscoveries). */
export class DiscoveryFailed extends RequestFailed {}

/** The DHT is not enabled on this node, or the node is not running. */
export class DhtNotRunning extends TcommsError {
  readonly kind = 'config' as const;
}
