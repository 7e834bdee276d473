/** A checked claim (PROTOCOL.md 9.5) as the peer store and the application see it. */
import { formatAddress } from '../../core/address.js';
import { nodeIdOf, type PublicKey } from '../../core/keys.js';
import type { ValidatedClaim } from '../../protocols/dht/index.js';
import type { PeerSighting } from '../../storage/peer.js';
import type { DiscoveredPeer } from './discovery.events.js';

/**
 * The peer-store sighting of a claim relayed by the DHT (a JOIN, a DISCOVERY or its response)
 * or a peer sync: the claim vouches for the addresses; the store keeps the claim with the largest
 * `updated_at`, and a relayed claim older than the stored one changes nothing (`mergePeer`).
 * Bytes are copied: the claim's fields are views into a received envelope.
 */
export function claimSighting(claim: ValidatedClaim): PeerSighting {
  const publicKey = Uint8Array.from(claim.publicKey) as PublicKey;
  return {
    publicKey,
    nodeId: nodeIdOf(publicKey),
    addresses: claim.parsedAddresses.map((a) => ({ address: String(formatAddress(a)), source: 'discovery' as const })),
    features: claim.features,
    userAgent: claim.userAgent,
    claim: {
      version: claim.signatureVersion,
      updatedAt: Number(claim.updatedAt),
      features: claim.features,
      addresses: claim.addresses.map((a) => Uint8Array.from(a)),
      signature: Uint8Array.from(claim.signature),
    },
    relayed: true,
  };
}

/** The plain form of a discovered claim. */
export function discoveredPeer(claim: ValidatedClaim): DiscoveredPeer {
  const publicKey = Uint8Array.from(claim.publicKey) as PublicKey;
  return {
    publicKey,
    nodeId: nodeIdOf(publicKey),
    addresses: claim.parsedAddresses.map((a) => String(formatAddress(a))),
    features: claim.features,
    userAgent: claim.userAgent,
    updatedAt: claim.updatedAt,
  };
}
