/**
 * Ed25519 for the DHT (9.2, 9.3): who signs, and verification as strict as section 5's
 * (RFC 8032 cofactorless, S < L, R canonical and not of small order).
 */
import { ed25519SignatureProblemForValidKey } from '../../core/ed25519-point.js';
import { ed25519Verify } from '../../core/ed25519.js';
import { NodeIdentity } from '../../core/keys.js';

/** Who signs: a node identity, or its 32-byte Ed25519 seed. */
export type DhtSigner = NodeIdentity | Uint8Array;

/** The identity of a signer (a seed becomes an identity; throws a ConfigError on a bad seed). */
export function signerIdentity(signer: DhtSigner): NodeIdentity {
  return signer instanceof NodeIdentity ? signer : NodeIdentity.fromSeed(signer);
}

/**
 * Strict verification of `signature` over `message` (a 32-byte hash) by `publicKey`, which the
 * caller has already found valid (section 0); false for any failure.
 */
export function verifyStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return ed25519SignatureProblemForValidKey(signature) === undefined && ed25519Verify(publicKey, message, signature);
}
