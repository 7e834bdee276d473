/**
 * The DHT actor's mailbox (PROTOCOL.md section 9): control only. Envelopes never pass through
 * it: the inbound pipeline (`pipeline.ts`) judges each one on the data path and sends this actor
 * only what changes state (a peer to ban, a claim to store, a discovery to answer or to match).
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { ValidatedClaim } from '../../protocols/dht/index.js';
import type { ConnectivityStatus } from '../connectivity/connectivity.events.js';
import type { DiscoveryOutcome, DiscoveryReport } from '../discovery/discovery.events.js';
import type { Mailbox } from '../mailbox.js';
import type { PeerManagerReply } from '../peer-manager/peer-manager.events.js';

/** The answer to `dht.discover`. */
export type DhtDiscoveryReply = { type: 'dht.discovery-result'; requestId: string; outcome: DiscoveryOutcome };

/** What other actors, the pipeline and the node's facade may send the DHT actor. */
export type DhtInbox =
  /** Find `publicKey`'s claim (one discovery per key: a request for a key being discovered joins it). */
  | { type: 'dht.discover'; requestId: string; publicKey: PublicKey; replyTo?: Mailbox<DhtDiscoveryReply> }
  /** Send a JOIN now (at most one per cool-down: asked during one, it goes out when it ends). */
  | { type: 'dht.join' }
  | { type: 'dht.stop' }
  /** From the pipeline: the sending peer broke 9.1/9.5, or flooded (9.9); ban it for `durationMs`. */
  | { type: 'dht.violation'; publicKey: PublicKey; reason: string; durationMs: number }
  /** From the pipeline: a valid JOIN; `ignored`: its claim names an address kind this node does not accept (not stored). */
  | { type: 'dht.join-received'; claim: ValidatedClaim; ignored: boolean }
  /** From the pipeline: a DISCOVERY for this node from `origin` (claim checked): store the claim, answer. */
  | { type: 'dht.discovery-requested'; origin: PublicKey; claim: ValidatedClaim; ignored: boolean; nonce: bigint }
  /** From the pipeline: a DISCOVERY_RESPONSE signed by the sending peer `from`, whose claim it carries. */
  | { type: 'dht.discovery-response'; from: PublicKey; claim: ValidatedClaim; ignored: boolean; nonce: bigint };

/** The node's connectivity, as the DHT follows it (from `followConnectivity`). */
export type DhtConnectivity = { type: 'dht.connectivity'; status: ConnectivityStatus };

/** Everything the DHT actor receives. */
export type DhtEvent = DhtInbox | DhtConnectivity | DiscoveryReport | PeerManagerReply;

/** What the DHT actor emits. */
export type DhtEmitted =
  | DhtDiscoveryReply
  /** A JOIN went to `peers` nodes. */
  | { type: 'dht.joined'; peers: number }
  | { type: 'dht.join-failed'; error: PlainError }
  /** A peer broke the DHT protocol and was reported for a ban. */
  | { type: 'dht.violation'; publicKey: PublicKey; reason: string; durationMs: number }
  /** A DISCOVERY for this node from `origin` was answered. */
  | { type: 'dht.discovery-answered'; origin: PublicKey };
