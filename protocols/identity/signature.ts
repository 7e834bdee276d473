/**
 * Identity claims (PROTOCOL.md section 5): the signed preimage, and Ed25519 verification as
 * strict as libsodium's, so every implementation accepts the same claims: RFC 8032
 * cofactorless verification with S < L, rejecting a non-canonical or small-order R.
 */
import { hash as blake2s } from '@stablelib/blake2s';
import { BoundedMap } from '../../core/bounded-map.js';
import { concat, equals, toHex, u32le, u64le } from '../../core/bytes.js';
import { ed25519SignatureProblemForValidKey } from '../../core/ed25519-point.js';
import { ed25519Verify } from '../../core/ed25519.js';

/** The domain tag that starts every identity preimage. */
export const IDENTITY_TAG = new TextEncoder().encode('tcomms.identity.v0');
/** The only signature version defined. */
export const SIGNATURE_VERSION = 0;

/** What an identity signature covers. */
export interface SignedFields {
  publicKey: Uint8Array;
  version: number;
  /** Unix seconds (int64; signed as its u64 two's-complement form). */
  updatedAt: bigint;
  features: number;
  addresses: readonly Uint8Array[];
}

/**
 * The framing of section 5's preimage, which H(items) of section 9.2 reuses: for each item,
 * u64le(length) then the item (an empty item adds just u64le(0)). Returns the pieces in order,
 * the items themselves uncopied, so a hash can take them without a concatenation.
 */
export function lengthPrefixed(items: readonly Uint8Array[]): Uint8Array[] {
  const prefixes = new Uint8Array(8 * items.length);
  const view = new DataView(prefixes.buffer);
  const out: Uint8Array[] = [];
  for (let i = 0; i < items.length; i++) {
    const length = items[i]!.length;
    view.setUint32(8 * i, length % 0x1_0000_0000, true);
    view.setUint32(8 * i + 4, Math.floor(length / 0x1_0000_0000), true);
    out.push(prefixes.subarray(8 * i, 8 * i + 8), items[i]!);
  }
  return out;
}

/** The preimage: for each item, u64le(length) then the item. */
export function identityPreimage(f: SignedFields): Uint8Array {
  const items = [IDENTITY_TAG, f.publicKey, Uint8Array.of(f.version & 0xff), u64le(f.updatedAt), u32le(f.features), ...f.addresses];
  return concat(lengthPrefixed(items));
}

/** The 32-byte BLAKE2s-256 of the preimage: what is signed. */
export function identityChallenge(f: SignedFields): Uint8Array {
  return blake2s(identityPreimage(f), 32);
}

/**
 * Strict verification (see the module comment); false for any failure. `f.publicKey` must
 * already be a valid key (section 0), which lets the small-order R check skip decompression.
 */
export function verifyIdentitySignature(f: SignedFields, signature: Uint8Array): boolean {
  // A peer that reconnects, and every peer sync that relays a claim, presents a claim verified
  // before: the same key and signature over the same fields verify the same way, so a success is
  // remembered (bounded) with the fields it covered, and a claim equal in every signed field is
  // not hashed and verified again. Any other field (or signature bit) misses and is verified.
  const key = f.publicKey.length === 32 && signature.length === 64 ? `${toHex(f.publicKey)}${toHex(signature)}` : undefined;
  const seen = key === undefined ? undefined : verified.get(key);
  if (seen !== undefined && sameSignedFields(seen, f)) return true;
  if (ed25519SignatureProblemForValidKey(signature) !== undefined) return false;
  if (!ed25519Verify(f.publicKey, identityChallenge(f), signature)) return false;
  // Copies: the fields may be views into a received buffer.
  if (key !== undefined) verified.set(key, { version: f.version, updatedAt: f.updatedAt, features: f.features, addresses: f.addresses.map((a) => Uint8Array.from(a)) });
  return true;
}

/** The signed fields of a claim verified lately, but its key (which the cache's key holds). */
type VerifiedFields = Omit<SignedFields, 'publicKey'>;

function sameSignedFields(a: VerifiedFields, b: SignedFields): boolean {
  if (a.version !== b.version || a.updatedAt !== b.updatedAt || a.features !== b.features || a.addresses.length !== b.addresses.length) return false;
  return a.addresses.every((x, i) => equals(x, b.addresses[i]!));
}

/** Claims verified lately: key and signature in hex -> the fields they signed. Bounded. */
const verified = new BoundedMap<string, VerifiedFields>(2048);
