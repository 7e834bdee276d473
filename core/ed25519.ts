/**
 * Ed25519 (RFC 8032) through node:crypto (OpenSSL): key derivation from a seed, signing and
 * verification about 50-100 times faster than @stablelib/ed25519 in pure JS, which stays the
 * cross-check in the tests (same keys, same signatures, same verdicts).
 *
 * OpenSSL's verification is cofactorless, requires S < L and compares the encoding of the
 * recomputed R with the signature's R, so a non-canonical R never verifies; the small-order R
 * and the key checks of PROTOCOL.md section 0 are made separately (`ed25519-point.ts`).
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { BoundedMap } from './bounded-map.js';

/** DER prefixes of an Ed25519 PKCS#8 private key and SPKI public key (RFC 8410), before the 32 key bytes. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The private key object of a 32-byte seed. */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The 32-byte public key of a private key object. */
export function ed25519PublicKeyOf(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return Uint8Array.from(der.subarray(der.length - 32));
}

/** The 64-byte signature of `message`. */
export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  return Uint8Array.from(sign(null, message, privateKey));
}

/** Imported verification keys of peers seen lately (importing costs about as much as verifying). Bounded. */
const verifyKeys = new BoundedMap<string, KeyObject>(1024);

function verifyKeyOf(publicKey: Uint8Array): KeyObject {
  const hex = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString('hex');
  return verifyKeys.getOrSet(hex, () => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' }));
}

/** Cofactorless verification; false for any failure, including a key OpenSSL cannot decode. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, verifyKeyOf(publicKey), signature);
  } catch {
    return false;
  }
}
