/**
 * The connected peers as the DHT's strategies see them (PROTOCOL.md 9.6): public key, NodeId and
 * claimed features, kept in step with the connection manager's `peer.connected` and
 * `peer.disconnected` facts. Bounded by the node's connection limit.
 */
import { toHex } from '../../core/bytes.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { ConnectedPeer } from './strategies.js';

/** The table of connected peers (see the module comment). */
export class ConnectedPeers {
  readonly #peers = new Map<string, ConnectedPeer>();

  /** A connection was kept. */
  add(connection: PeerConnection): void {
    const p = connection.peer;
    this.put({ publicKey: p.publicKey, nodeId: p.nodeId, hex: toHex(p.publicKey), features: p.features });
  }

  /** A connected peer (as its connection's identity describes it). */
  put(peer: ConnectedPeer): void {
    this.#peers.set(peer.hex, peer);
  }

  /** The peer disconnected. */
  remove(publicKey: PublicKey): void {
    this.#peers.delete(toHex(publicKey));
  }

  /** Whether the peer with this public key hex is connected. */
  has(hex: string): boolean {
    return this.#peers.has(hex);
  }

  /** The connected peer with this public key hex. */
  get(hex: string): ConnectedPeer | undefined {
    return this.#peers.get(hex);
  }

  /** Connected peers now. */
  get size(): number {
    return this.#peers.size;
  }

  /** Every connected peer. */
  values(): IterableIterator<ConnectedPeer> {
    return this.#peers.values();
  }

  /** Forgets every peer (the node stopped). */
  clear(): void {
    this.#peers.clear();
  }
}
