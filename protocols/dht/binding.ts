/**
 * The hashes of PROTOCOL.md 9.2-9.4: H(items), `binding(body)`, the sealed-sender key and the
 * dedup key. Every header field is hashed as received, whatever its length (9.1), so the
 * receiver can hash a header before it checks it. BLAKE2s-256 comes from the crypto provider.
 */
import type { CryptoProvider } from '../../core/crypto/provider.js';
import { lengthPrefixed } from '../identity/signature.js';
import { BINDING_TAG, DEDUP_TAG, SEAL_KEY_TAG } from './constants.js';

/** The header fields `binding(body)` covers (9.2): a decoded `DhtHeader` is one. */
export interface BindingFields {
  readonly version: number;
  /** Empty or 32 bytes when valid; hashed as received. */
  readonly destination: Uint8Array;
  readonly messageType: number;
  readonly flags: number;
  readonly expires: bigint;
  /** Empty or 32 bytes when valid; hashed as received. */
  readonly ephemeralPublicKey: Uint8Array;
}

/** The cleartext signature fields of a header (9.1); empty arrays when unsigned. */
export interface SignatureFields {
  readonly signerPublicKey: Uint8Array;
  readonly signature: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** H(items) of 9.2 (section 5's construction): BLAKE2s-256 over u64le(len(item)) || item for each item. */
export function hashItems(provider: CryptoProvider, items: readonly Uint8Array[]): Uint8Array {
  return provider.hash(...lengthPrefixed(items));
}

/** The items of `binding(body)` (9.2), in order; `body` is not copied. */
export function bindingItems(fields: BindingFields, body: Uint8Array): Uint8Array[] {
  const numbers = new Uint8Array(20);
  const view = new DataView(numbers.buffer);
  view.setUint32(0, fields.version >>> 0, true);
  view.setUint32(4, fields.messageType >>> 0, true);
  view.setUint32(8, fields.flags >>> 0, true);
  view.setBigUint64(12, BigInt.asUintN(64, fields.expires), true);
  return [
    BINDING_TAG,
    numbers.subarray(0, 4),
    fields.destination,
    numbers.subarray(4, 8),
    numbers.subarray(8, 12),
    numbers.subarray(12, 20),
    fields.ephemeralPublicKey,
    body,
  ];
}

/** `binding(body)` (9.2): what a cleartext origin signs, and with an empty body the AEAD's associated data (9.3). */
export function bindingHash(provider: CryptoProvider, fields: BindingFields, body: Uint8Array = EMPTY): Uint8Array {
  return hashItems(provider, bindingItems(fields, body));
}

/**
 * The dedup key (9.4): H(`tcomms.dht.dedup.v1`, binding(body), signer_public_key, signature),
 * the last two empty when unsigned. `message_tag` does not count.
 */
export function dedupKey(provider: CryptoProvider, binding: Uint8Array, signature?: SignatureFields): Uint8Array {
  return hashItems(provider, [DEDUP_TAG, binding, signature?.signerPublicKey ?? EMPTY, signature?.signature ?? EMPTY]);
}

/** The items of the sealed-sender key (9.3): tag, shared secret, ephemeral public key, the recipient's X25519 form. */
export function sealKeyItems(sharedSecret: Uint8Array, ephemeralPublicKey: Uint8Array, recipientX25519: Uint8Array): Uint8Array[] {
  return [SEAL_KEY_TAG, sharedSecret, ephemeralPublicKey, recipientX25519];
}

/** The sealed-sender key (9.3): H(`tcomms.dht.key.v1`, ss, E, X25519 form of R). */
export function sealKey(provider: CryptoProvider, sharedSecret: Uint8Array, ephemeralPublicKey: Uint8Array, recipientX25519: Uint8Array): Uint8Array {
  return hashItems(provider, sealKeyItems(sharedSecret, ephemeralPublicKey, recipientX25519));
}
