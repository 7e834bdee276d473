/**
 * The connectivity actor's mailbox and facts (tari_comms' ConnectivityManager): it follows the
 * connection manager's facts, keeps the pool and the node's status, reaps idle connections above
 * a threshold, and bans peers that break the protocol.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';

/** The node's connectivity against `minConnectivity`. */
export type ConnectivityStatus = 'initializing' | 'online' | 'degraded' | 'offline';

/** What other actors may send the connectivity actor. */
export type ConnectivityInbox =
  // facts of the connection manager
  | { type: 'peer.connected'; publicKey: PublicKey; connection: PeerConnection }
  | { type: 'peer.disconnected'; publicKey: PublicKey }
  /** A peer broke a protocol; `durationMs` (e.g. the DHT's bans, PROTOCOL.md 9.9) overrides the ban by offence. */
  | { type: 'peer.violation'; publicKey: PublicKey; error: PlainError; durationMs?: number }
  // commands
  | { type: 'connectivity.allow'; publicKey: PublicKey }
  | { type: 'connectivity.disallow'; publicKey: PublicKey }
  /** Connections to these peers are never reaped; a holder's list replaces its previous one (empty: released). */
  | { type: 'connectivity.keep'; holder: string; publicKeys: readonly PublicKey[] }
  | { type: 'connectivity.stop' };

/** Everything the connectivity actor receives. */
export type ConnectivityEvent = ConnectivityInbox;

/** Facts the connectivity actor emits. */
export type ConnectivityEmitted =
  | { type: 'connectivity.status'; status: ConnectivityStatus; connections: number }
  | { type: 'connectivity.reaped'; publicKeys: PublicKey[] }
  | { type: 'peer.banned'; publicKey: PublicKey; durationMs: number; reason: string };
