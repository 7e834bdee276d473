/** What a checked identity tells the peer store (the claim vouches for the addresses). */
import { formatAddress } from '../../core/address.js';
import type { ValidatedIdentity } from '../../protocols/identity/index.js';
import type { PeerSighting } from '../../storage/peer.js';

/** The peer-store sighting of a checked identity: its claim vouches for the addresses. */
export function sightingOf(identity: ValidatedIdentity): PeerSighting {
  return {
    publicKey: identity.publicKey,
    nodeId: identity.nodeId,
    addresses: identity.parsedAddresses.map((a) => ({ address: String(formatAddress(a)), source: 'identity' as const })),
    features: identity.features,
    supportedProtocols: identity.supportedProtocols,
    userAgent: identity.userAgent,
    claim: {
      version: identity.signatureVersion,
      updatedAt: Number(identity.updatedAt),
      features: identity.features,
      addresses: identity.addresses,
      signature: identity.signature,
    },
  };
}
