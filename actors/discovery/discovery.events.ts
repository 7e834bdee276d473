/**
 * One discovery's mailbox (PROTOCOL.md 9.5: an actor per DHT query, `discovery:<NodeId hex>`, a
 * child of the DHT actor): the response routed to it, the peer manager's answer to storing the
 * claim, and cancellation. It reports its outcome to the DHT actor with a {@link DiscoveryReport}.
 */
import type { PlainError } from '../../core/errors.js';
import type { NodeId, PublicKey } from '../../core/keys.js';
import type { ValidatedClaim } from '../../protocols/dht/index.js';
import type { PeerManagerReply } from '../peer-manager/peer-manager.events.js';

/** A peer found by a discovery: its checked claim, in plain form. */
export interface DiscoveredPeer {
  readonly publicKey: PublicKey;
  readonly nodeId: NodeId;
  /** The claimed addresses, as multiaddr text. */
  readonly addresses: readonly string[];
  readonly features: number;
  readonly userAgent: string;
  /** The claim's `updated_at` (unix seconds). */
  readonly updatedAt: bigint;
}

/** What a discovery ended with. */
export type DiscoveryOutcome = { readonly ok: true; readonly peer: DiscoveredPeer } | { readonly ok: false; readonly error: PlainError };

/** What the DHT actor may send a discovery. */
export type DiscoveryInbox =
  /** A DISCOVERY_RESPONSE from the target (its signature and claim checked by the pipeline). `ignored`: valid, but naming an address kind this node does not accept. */
  | { type: 'discovery.response'; claim: ValidatedClaim; nonce: bigint; ignored: boolean }
  | { type: 'discovery.cancel' };

/** Everything a discovery receives. */
export type DiscoveryEvent = DiscoveryInbox | PeerManagerReply;

/** What a discovery tells the DHT actor when it ends. `key`: the target's public key hex. */
export type DiscoveryReport = { type: 'discovery.ended'; key: string; outcome: DiscoveryOutcome };
