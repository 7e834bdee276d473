/**
 * Network discovery's mailbox (PROTOCOL.md 9.9): control only. Claims never pass through it:
 * a sync stores them in the peer store as they arrive and reports what it came to.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';

/** What other actors and the node's facade may send network discovery. */
export type NetworkDiscoveryInbox =
  /** From the root: the node runs (its listen addresses are bound and claimed); discovery may begin. */
  | { type: 'network-discovery.node-running' }
  | { type: 'network-discovery.stop' };

/** From `followConnections`: a connection was kept (`node`: the peer claims feature bit 0). */
export type NetworkDiscoveryConnected = {
  type: 'network-discovery.peer-connected';
  publicKey: PublicKey;
  node: boolean;
  /** This node dialled it (an outbound connection); an inbound one is never synced unless it is a seed. */
  outbound: boolean;
};

/** Everything network discovery receives. */
export type NetworkDiscoveryEvent = NetworkDiscoveryInbox | NetworkDiscoveryConnected;

/** What one sync with one peer came to. */
export interface PeerSyncReport {
  publicKey: PublicKey;
  ok: boolean;
  /** Claims stored that the store did not hold before. */
  added: number;
  /** Why it failed (the call, or the server's violation). */
  error?: PlainError | undefined;
  /** The server broke 9.8 (an invalid claim, more than asked for): it is banned. */
  violation?: string | undefined;
}

/** What a round of syncs came to (one peer in on-connect mode). */
export interface SyncRoundOutcome {
  reports: PeerSyncReport[];
}

/** Facts network discovery emits. */
export type NetworkDiscoveryEmitted =
  /** A round ended (`added`: peers new to the store, over all its syncs). */
  | { type: 'network-discovery.round'; mode: 'discovering' | 'on-connect'; peers: number; succeeded: number; added: number }
  /** A peer's sync ended. */
  | { type: 'network-discovery.synced'; report: PeerSyncReport }
  /** A server broke peer sync (9.8) and was reported for a ban of `durationMs` (9.9). */
  | { type: 'network-discovery.violation'; publicKey: PublicKey; reason: string; durationMs: number };
