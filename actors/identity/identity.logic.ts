/**
 * The pure parts of the identity claim: which addresses a node claims, and signing a claim with
 * an `updated_at` that never goes back (a peer keeps the claim with the largest one).
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { addressToBytes, parseAddress } from '../../core/address.js';
import type { NodeIdentity } from '../../core/keys.js';
import { createIdentityMessage, MAX_ADDRESSES, type IdentityContent } from '../../protocols/identity/index.js';
import type { SignedClaim } from './identity.events.js';

/**
 * The addresses claimed: the configured public ones, else the bound ones a peer can dial (an
 * unspecified address such as 0.0.0.0 is not), at most five (section 5), in binary form.
 */
export function claimedAddresses(publicAddresses: readonly string[] | undefined, bound: readonly Multiaddr[]): Uint8Array[] {
  if (publicAddresses) return publicAddresses.map((a) => addressToBytes(parseAddress(a, { allowMemory: true })));
  const out: Uint8Array[] = [];
  for (const a of bound) {
    if (out.length === MAX_ADDRESSES) break;
    try {
      out.push(addressToBytes(parseAddress(a, { allowMemory: true })));
    } catch {
      // not dialable: not claimed
    }
  }
  return out;
}

/** True when two claims sign the same fields (addresses and features; the rest is not signed). */
export function sameSignedFields(a: Pick<IdentityContent, 'addresses' | 'features'>, b: Pick<IdentityContent, 'addresses' | 'features'>): boolean {
  if (a.features !== b.features || a.addresses.length !== b.addresses.length) return false;
  return a.addresses.every((x, i) => Buffer.from(x).equals(Buffer.from(b.addresses[i]!)));
}

/** Signs `content` as the node's claim. */
export function signClaim(identity: NodeIdentity, content: IdentityContent): SignedClaim {
  return { content, message: createIdentityMessage(identity, content) };
}

/** The `updated_at` of a new claim: now, and always after the previous claim's. */
export function nextUpdatedAt(previous: bigint | undefined, nowSeconds: bigint): bigint {
  return previous === undefined || nowSeconds > previous ? nowSeconds : previous + 1n;
}
