/** The pure-JS provider, built on the user's @stablelib packages. */
import { BLAKE2s } from '@stablelib/blake2s';
import { ChaCha20Poly1305 } from '@stablelib/chacha20poly1305';
import * as x25519 from '@stablelib/x25519';
import { randomBytes } from 'node:crypto';
import {
  DecryptionFailed,
  HASH_BLOCK_LENGTH,
  HASH_LENGTH,
  joinedPieces,
  LowOrderPoint,
  TAG_LENGTH,
  type CryptoProvider,
  type X25519KeyPair,
} from './provider.js';

function blake2s(parts: readonly Uint8Array[]): Uint8Array {
  const h = new BLAKE2s(HASH_LENGTH);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC (RFC 2104) over BLAKE2s-256, as Noise defines it with BLOCKLEN 64. */
function hmacBlake2s(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const block = new Uint8Array(HASH_BLOCK_LENGTH);
  block.set(key.length > HASH_BLOCK_LENGTH ? blake2s([key]) : key);
  const inner = new BLAKE2s(HASH_LENGTH);
  const outer = new BLAKE2s(HASH_LENGTH);
  const pad = new Uint8Array(HASH_BLOCK_LENGTH);
  for (let i = 0; i < HASH_BLOCK_LENGTH; i++) pad[i] = block[i]! ^ 0x36;
  inner.update(pad);
  for (const p of parts) inner.update(p);
  for (let i = 0; i < HASH_BLOCK_LENGTH; i++) pad[i] = block[i]! ^ 0x5c;
  outer.update(pad);
  outer.update(inner.digest());
  return outer.digest();
}

const EMPTY = new Uint8Array(0);

/** Pure-JS provider: @stablelib/x25519, @stablelib/chacha20poly1305, @stablelib/blake2s. */
export const stablelibProvider: CryptoProvider = {
  name: 'stablelib',
  x25519Generate(): X25519KeyPair {
    return x25519.generateKeyPairFromSeed(randomBytes(32));
  },
  x25519FromSecret(secretKey: Uint8Array): X25519KeyPair {
    return { secretKey: Uint8Array.from(secretKey), publicKey: x25519.scalarMultBase(secretKey) };
  },
  x25519DH(own: X25519KeyPair, theirPublic: Uint8Array): Uint8Array {
    try {
      return x25519.sharedKey(own.secretKey, theirPublic, true);
    } catch {
      throw new LowOrderPoint();
    }
  },
  aeadSeal(key, nonce, ad, plaintext) {
    return new ChaCha20Poly1305(key).seal(nonce, plaintext, ad);
  },
  aeadSealParts(key, nonce, plaintext, prefix) {
    const out = new Uint8Array(prefix + plaintext.length + TAG_LENGTH);
    new ChaCha20Poly1305(key).seal(nonce, plaintext, undefined, out.subarray(prefix));
    return [out];
  },
  aeadSealPieces(key, nonce, pieces, prefix) {
    return stablelibProvider.aeadSealParts(key, nonce, joinedPieces(pieces), prefix);
  },
  aeadOpenPieces(key, nonce, pieces) {
    const out = stablelibProvider.aeadOpen(key, nonce, EMPTY, joinedPieces(pieces));
    return out.length === 0 ? [] : [out];
  },
  aeadOpen(key, nonce, ad, sealed) {
    if (sealed.length < TAG_LENGTH) throw new DecryptionFailed('ciphertext shorter than the tag');
    const out = new ChaCha20Poly1305(key).open(nonce, sealed, ad);
    if (out === null) throw new DecryptionFailed();
    return out;
  },
  hash(...parts) {
    return blake2s(parts);
  },
  hmac(key, ...parts) {
    return hmacBlake2s(key, parts);
  },
};
