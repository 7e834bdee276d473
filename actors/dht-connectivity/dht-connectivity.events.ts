/**
 * The DHT connectivity actor's mailbox (tari_comms_dht's DhtConnectivity): control only. The
 * facts it follows (connections kept and ended, peers stored and banned, the node's status) come
 * from its siblings through its `follow*` actors, in the compact form below.
 */
import type { PublicKey } from '../../core/keys.js';
import type { ConnectionManagerReply } from '../connection-manager/connection-manager.events.js';
import type { ConnectivityStatus } from '../connectivity/connectivity.events.js';
import type { ConnectionEntry, PoolName, PoolPeer } from './pools.js';

/** What other actors and the node's facade may send the DHT connectivity actor. */
export type DhtConnectivityInbox =
  /** Choose both pools afresh now (the closest again, a new random pool), as the 2-hour refresh does. */
  | { type: 'dht-connectivity.refresh' }
  | { type: 'dht-connectivity.stop' };

/** The siblings' facts, as the `follow*` actors translate them. */
export type DhtConnectivityFact =
  /** The connectivity component's status (online: it has connections). */
  | { type: 'dht-connectivity.status'; status: ConnectivityStatus }
  /** The peer manager stored a peer it did not know, or one that may now be chosen (updated: a node now, maybe; back online; unbanned). */
  | { type: 'dht-connectivity.peer-stored'; peer: PoolPeer }
  /** The peer manager banned a peer. */
  | { type: 'dht-connectivity.peer-banned'; publicKey: PublicKey }
  /** The peer manager deleted a peer, or its store evicted it (an unverified record past the bound). */
  | { type: 'dht-connectivity.peer-deleted'; publicKey: PublicKey }
  /** The connection manager kept a connection. */
  | { type: 'dht-connectivity.connected'; connection: ConnectionEntry }
  /** A kept connection ended. */
  | { type: 'dht-connectivity.disconnected'; publicKey: PublicKey };

/** Everything the DHT connectivity actor receives (dial answers included). */
export type DhtConnectivityEvent = DhtConnectivityInbox | DhtConnectivityFact | ConnectionManagerReply;

/** What the DHT connectivity actor emits. */
export type DhtConnectivityEmitted =
  /** The pools changed (public keys, the neighbours nearest first). */
  | { type: 'dht-connectivity.pools'; neighbours: PublicKey[]; random: PublicKey[] }
  /** A member failed `failures` times in a row and left its pool (another takes its place). */
  | { type: 'dht-connectivity.replaced'; publicKey: PublicKey; pool: PoolName; failures: number }
  /** Minimizing closed these connections (to peers in no pool). */
  | { type: 'dht-connectivity.minimized'; publicKeys: PublicKey[] };
