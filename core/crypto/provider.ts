/**
 * The crypto primitives Noise needs, behind one interface so that a pure-JS provider
 * (`stablelib`) and a node:crypto provider (`native`) are interchangeable and cross-checked.
 */
import { concat } from '../bytes.js';
import { TcommsError } from '../errors.js';

/** Length of an X25519 key, a BLAKE2s-256 digest and a ChaCha20-Poly1305 key. */
export const KEY_LENGTH = 32;
/** Length of the Poly1305 tag. */
export const TAG_LENGTH = 16;
/** Length of the ChaCha20-Poly1305 (IETF) nonce. */
export const NONCE_LENGTH = 12;
/** BLAKE2s digest length (Noise HASHLEN). */
export const HASH_LENGTH = 32;
/** BLAKE2s block length (Noise BLOCKLEN), used by HMAC. */
export const HASH_BLOCK_LENGTH = 64;

/** An X25519 key pair. Providers may keep a native handle beside it, keyed on the object. */
export interface X25519KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** Names of the built-in providers. */
export type CryptoProviderName = 'stablelib' | 'native';

/** The primitives of `Noise_*_25519_ChaChaPoly_BLAKE2s`. All methods are synchronous. */
export interface CryptoProvider {
  readonly name: CryptoProviderName;
  /** A fresh random key pair. */
  x25519Generate(): X25519KeyPair;
  /** The key pair of a 32-byte secret scalar (clamped by X25519 itself). */
  x25519FromSecret(secretKey: Uint8Array): X25519KeyPair;
  /** X25519(own.secretKey, theirPublic); throws {@link LowOrderPoint} when the result is all zero. */
  x25519DH(own: X25519KeyPair, theirPublic: Uint8Array): Uint8Array;
  /**
   * The native handle kept beside `pair`, in a form that can be posted to another thread with
   * it (undefined when the provider keeps none). With {@link x25519Adopt}, a key pair made on
   * a worker arrives ready for use, without a second scalar multiplication.
   */
  x25519Handle?(pair: X25519KeyPair): unknown;
  /**
   * Keep `handle` (from {@link x25519Handle} on another thread) beside `pair`. Throws
   * {@link InvalidKeyHandle} when it is not the private key of `pair`.
   */
  x25519Adopt?(pair: X25519KeyPair, handle: unknown): void;
  /** ChaCha20-Poly1305 seal; returns ciphertext || tag in one array. */
  aeadSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /**
   * ChaCha20-Poly1305 seal for the transport hot path: returns chunks whose concatenation is
   * `prefix` free bytes (for the caller to fill, e.g. a length header) || ciphertext || tag.
   * Lets each provider avoid a copy: one buffer for stablelib, three for node:crypto.
   */
  aeadSealParts(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, prefix: number): Uint8Array[];
  /**
   * {@link aeadSealParts} of the concatenation of `pieces`, without concatenating them: lets a
   * transport message take plaintext from several writes (full messages instead of a short one
   * after each write).
   */
  aeadSealPieces(key: Uint8Array, nonce: Uint8Array, pieces: readonly Uint8Array[], prefix: number): Uint8Array[];
  /**
   * ChaCha20-Poly1305 open of ciphertext || tag given as the concatenation of `pieces` (a
   * message that arrived in several reads), without concatenating them; returns the plaintext
   * in pieces, only once the tag verified. Throws {@link DecryptionFailed}.
   */
  aeadOpenPieces(key: Uint8Array, nonce: Uint8Array, pieces: readonly Uint8Array[]): Uint8Array[];
  /** ChaCha20-Poly1305 open of ciphertext || tag; throws {@link DecryptionFailed}. */
  aeadOpen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /** BLAKE2s-256 of the concatenation of `parts`. */
  hash(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-BLAKE2s-256(key, concatenation of `parts`). */
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
}

/** An X25519 public key of small order gave an all-zero shared secret. */
export class LowOrderPoint extends TcommsError {
  readonly kind = 'protocol' as const;
  constructor() {
    super('X25519 shared secret is all zero (low-order public key)');
  }
}

/** A native key handle handed to {@link CryptoProvider.x25519Adopt} is not the key pair's private key. */
export class InvalidKeyHandle extends TcommsError {
  readonly kind = 'internal' as const;
  constructor(message = 'the native handle is not the private key of this X25519 key pair') {
    super(message);
  }
}

/** A ChaCha20-Poly1305 tag did not verify. */
export class DecryptionFailed extends TcommsError {
  readonly kind = 'protocol' as const;
  constructor(message = 'ChaCha20-Poly1305 authentication failed') {
    super(message);
  }
}

/** One array of the pieces: the piece itself when there is one (no copy), else their concatenation. */
export function joinedPieces(pieces: readonly Uint8Array[]): Uint8Array {
  return pieces.length === 1 ? pieces[0]! : concat(pieces);
}

/** The total length of `pieces`. */
export function piecesLength(pieces: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}

/**
 * Splits ciphertext || tag given in pieces into the ciphertext pieces (views) and the 16-byte
 * tag (a copy when it spans pieces). Throws {@link DecryptionFailed} when shorter than the tag.
 */
export function splitSealedPieces(pieces: readonly Uint8Array[]): { ciphertext: Uint8Array[]; tag: Uint8Array } {
  const total = piecesLength(pieces);
  if (total < TAG_LENGTH) throw new DecryptionFailed('ciphertext shorter than the tag');
  const end = total - TAG_LENGTH;
  const ciphertext: Uint8Array[] = [];
  const tag = new Uint8Array(TAG_LENGTH);
  let offset = 0;
  for (const p of pieces) {
    const start = offset;
    offset += p.length;
    if (start < end) ciphertext.push(offset <= end ? p : p.subarray(0, end - start));
    if (offset > end) {
      const from = Math.max(start, end);
      tag.set(p.subarray(from - start), from - end);
    }
  }
  return { ciphertext, tag };
}

/**
 * Noise's HKDF (HMAC-based, BLAKE2s): returns `count` outputs of 32 bytes.
 * Section 4.3 of the Noise specification.
 */
export function hkdf(provider: CryptoProvider, chainingKey: Uint8Array, ikm: Uint8Array, count: 2 | 3): Uint8Array[] {
  const temp = provider.hmac(chainingKey, ikm);
  const out1 = provider.hmac(temp, ONE);
  const out2 = provider.hmac(temp, out1, TWO);
  if (count === 2) return [out1, out2];
  return [out1, out2, provider.hmac(temp, out2, THREE)];
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);
