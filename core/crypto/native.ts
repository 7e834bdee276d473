/** The node:crypto provider (OpenSSL): X25519 KeyObjects, chacha20-poly1305, blake2s256. */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  KeyObject,
  randomBytes,
} from 'node:crypto';
import { asBuffer } from '../bytes.js';
import { chacha20poly1305Open, chacha20poly1305Seal } from './chacha20poly1305.js';
import { DecryptionFailed, InvalidKeyHandle, joinedPieces, LowOrderPoint, piecesLength, splitSealedPieces, TAG_LENGTH, type CryptoProvider, type X25519KeyPair } from './provider.js';
import { BoundedMap } from '../bounded-map.js';

/** DER prefix of a PKCS#8 X25519 private key (RFC 8410); the 32 raw bytes follow. */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** Native private-key handles, kept beside the key pairs that own them. */
const handles = new WeakMap<X25519KeyPair, KeyObject>();
/**
 * Handles by secret key, for key pairs that crossed a thread boundary (structured clones lose
 * the WeakMap entry). Bounded: the oldest entry goes first. Only this process's own keys.
 */
const bySecret = new BoundedMap<string, KeyObject>(256);

function privateHandle(pair: X25519KeyPair): KeyObject {
  let handle = handles.get(pair);
  if (handle !== undefined) return handle;
  const id = asBuffer(pair.secretKey).toString('base64url');
  handle = bySecret.getOrSet(id, () => importPrivate(pair.secretKey, pair.publicKey));
  handles.set(pair, handle);
  return handle;
}

/** The X25519 base point (u = 9): X25519(k, 9) is the public key of k. */
const BASE_POINT = (() => {
  const u = new Uint8Array(32);
  u[0] = 9;
  return u;
})();
let basePointHandle: KeyObject | undefined;

/**
 * Import a private key. JWK import is about 7x faster than PKCS#8 DER, but JWK needs a public
 * `x` beside `d`; OpenSSL builds the key from `d` alone, so when the public key is not known yet
 * the base point stands in for it (the public key is then derived, never taken from `x`). Should
 * a Node release start checking that `x` matches `d`, this falls back to DER.
 */
function importPrivate(secretKey: Uint8Array, publicKey?: Uint8Array): KeyObject {
  const x = publicKey !== undefined && publicKey.length === 32 && publicKey.some((b) => b !== 0) ? publicKey : BASE_POINT;
  try {
    const jwk = { kty: 'OKP', crv: 'X25519', d: asBuffer(secretKey).toString('base64url'), x: asBuffer(x).toString('base64url') };
    return createPrivateKey({ key: jwk, format: 'jwk' });
  } catch {
    return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, asBuffer(secretKey)]), format: 'der', type: 'pkcs8' });
  }
}

/**
 * The public key of a private handle. OpenSSL already derived it when the private key was
 * imported (that import costs a scalar multiplication), so it is read back (about 5 us) instead
 * of computed again as X25519(k, 9) (about 37 us). Reading back is an export of a key made by
 * createPrivateKey, not of a generateKeyPairSync key (the Node 20 deadlock needs a KeyGenJob);
 * spec/core/crypto/native-keygen.spec.ts runs it 20,000 times under a tiny young generation.
 * Should the export not give 32 bytes, X25519 with the base point is the fallback.
 */
function publicOf(handle: KeyObject): Uint8Array {
  const x = createPublicKey(handle).export({ format: 'jwk' }).x;
  if (typeof x === 'string') {
    const bytes = Buffer.from(x, 'base64url');
    if (bytes.length === 32) return new Uint8Array(bytes.buffer, bytes.byteOffset, 32);
  }
  basePointHandle ??= publicHandle(BASE_POINT);
  return new Uint8Array(diffieHellman({ privateKey: handle, publicKey: basePointHandle }));
}

function publicHandle(publicKey: Uint8Array): KeyObject {
  // JWK import is about 6x faster than SPKI DER import in OpenSSL 3.
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: asBuffer(publicKey).toString('base64url') }, format: 'jwk' });
}

/**
 * Imported public keys by array identity: a Noise handshake uses the remote ephemeral key in
 * two DH operations (ee, and es or se), and this spares the second import (about 10 us). The
 * bytes are kept and compared, so an array changed in place is imported again.
 */
const publicHandles = new WeakMap<Uint8Array, { bytes: Buffer; handle: KeyObject }>();

function remoteHandle(publicKey: Uint8Array): KeyObject {
  const kept = publicHandles.get(publicKey);
  if (kept !== undefined && kept.bytes.equals(publicKey)) return kept.handle;
  const handle = publicHandle(publicKey);
  publicHandles.set(publicKey, { bytes: Buffer.from(publicKey), handle });
  return handle;
}

function cipherOptions() {
  return { authTagLength: TAG_LENGTH } as const;
}

/** node:crypto for every primitive (the cross-checked reference of the native path). */
export const nodeCryptoProvider: CryptoProvider = {
  name: 'native',
  /*
   * Never generateKeyPairSync: on Node 20, a KeyObject made by it can deadlock the process when
   * exported (the export holds the key's mutex while allocating; a GC in that window destroys
   * the finished KeyGenJob, whose destructor waits on the same mutex). The secret comes from the
   * CSPRNG instead; the public key is the one OpenSSL derived when the secret was imported.
   */
  x25519Generate(): X25519KeyPair {
    return nodeCryptoProvider.x25519FromSecret(randomBytes(32));
  },
  x25519FromSecret(secretKey: Uint8Array): X25519KeyPair {
    const secret = Uint8Array.from(secretKey);
    const handle = importPrivate(secret);
    const pair: X25519KeyPair = { secretKey: secret, publicKey: publicOf(handle) };
    handles.set(pair, handle);
    return pair;
  },
  x25519DH(own: X25519KeyPair, theirPublic: Uint8Array): Uint8Array {
    if (theirPublic.length !== 32) throw new LowOrderPoint();
    try {
      return new Uint8Array(diffieHellman({ privateKey: privateHandle(own), publicKey: remoteHandle(theirPublic) }));
    } catch {
      // OpenSSL refuses an all-zero shared secret ("failed during derivation").
      throw new LowOrderPoint();
    }
  },
  x25519Handle(pair: X25519KeyPair): unknown {
    return handles.get(pair);
  },
  x25519Adopt(pair: X25519KeyPair, handle: unknown): void {
    if (!(handle instanceof KeyObject) || handle.type !== 'private' || handle.asymmetricKeyType !== 'x25519') throw new InvalidKeyHandle('not an X25519 private KeyObject');
    // The public key the handshake will send must be the handle's own (about 3 us to check).
    if (pair.publicKey.length !== 32 || !asBuffer(publicOf(handle)).equals(pair.publicKey)) throw new InvalidKeyHandle();
    handles.set(pair, handle);
  },
  aeadSeal(key, nonce, ad, plaintext) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, cipherOptions());
    if (ad.length > 0) c.setAAD(ad, { plaintextLength: plaintext.length });
    const head = c.update(plaintext);
    c.final();
    return Buffer.concat([head, c.getAuthTag()]);
  },
  aeadSealParts(key, nonce, plaintext, prefix) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, cipherOptions());
    const body = c.update(plaintext);
    c.final();
    return [Buffer.allocUnsafe(prefix), body, c.getAuthTag()];
  },
  aeadSealPieces(key, nonce, pieces, prefix) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, cipherOptions());
    const out: Uint8Array[] = [Buffer.allocUnsafe(prefix)];
    for (const p of pieces) if (p.length > 0) out.push(c.update(p));
    c.final();
    out.push(c.getAuthTag());
    return out;
  },
  aeadOpenPieces(key, nonce, pieces) {
    const { ciphertext, tag } = splitSealedPieces(pieces);
    const d = createDecipheriv('chacha20-poly1305', key, nonce, cipherOptions());
    d.setAuthTag(tag);
    const out: Uint8Array[] = [];
    for (const p of ciphertext) if (p.length > 0) out.push(d.update(p));
    try {
      d.final();
    } catch {
      throw new DecryptionFailed();
    }
    return out;
  },
  aeadOpen(key, nonce, ad, sealed) {
    if (sealed.length < TAG_LENGTH) throw new DecryptionFailed('ciphertext shorter than the tag');
    const split = sealed.length - TAG_LENGTH;
    const d = createDecipheriv('chacha20-poly1305', key, nonce, cipherOptions());
    d.setAuthTag(sealed.subarray(split));
    if (ad.length > 0) d.setAAD(ad, { plaintextLength: split });
    const out = d.update(sealed.subarray(0, split));
    try {
      d.final();
    } catch {
      throw new DecryptionFailed();
    }
    return out;
  },
  hash(...parts) {
    const h = createHash('blake2s256');
    for (const p of parts) h.update(p);
    return h.digest();
  },
  hmac(key, ...parts) {
    const h = createHmac('blake2s256', key);
    for (const p of parts) h.update(p);
    return h.digest();
  },
};

/**
 * Plaintexts up to this size are sealed and opened in JS by `chacha20poly1305.ts`: a node:crypto
 * cipher object costs more to set up (about 3.5-5 us) than a small message costs to encrypt in
 * JS (measured on this project's machine: 44 bytes 0.8 us vs 3.6 us, 400 bytes 3.5 vs 4.2,
 * 512 bytes 4.2 vs 5.3; from about 700 bytes node:crypto is faster). Both give identical bytes
 * (tested).
 */
export const SMALL_AEAD_BYTES = 512;

const EMPTY = new Uint8Array(0);

function openSmall(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array {
  if (sealed.length < TAG_LENGTH) throw new DecryptionFailed('ciphertext shorter than the tag');
  const out = chacha20poly1305Open(key, nonce, ad, sealed);
  if (out === null) throw new DecryptionFailed();
  return out;
}

/**
 * The default provider: node:crypto, except the AEAD of small messages (see
 * {@link SMALL_AEAD_BYTES}), which runs in JS.
 */
export const nativeProvider: CryptoProvider = {
  ...nodeCryptoProvider,
  aeadSeal(key, nonce, ad, plaintext) {
    if (plaintext.length > SMALL_AEAD_BYTES) return nodeCryptoProvider.aeadSeal(key, nonce, ad, plaintext);
    const out = new Uint8Array(plaintext.length + TAG_LENGTH);
    chacha20poly1305Seal(key, nonce, ad, plaintext, out, 0);
    return out;
  },
  aeadSealParts(key, nonce, plaintext, prefix) {
    if (plaintext.length > SMALL_AEAD_BYTES) return nodeCryptoProvider.aeadSealParts(key, nonce, plaintext, prefix);
    // From Node's shared pool (no backing store of its own); the caller fills the prefix.
    const out = Buffer.allocUnsafe(prefix + plaintext.length + TAG_LENGTH);
    chacha20poly1305Seal(key, nonce, EMPTY, plaintext, out, prefix);
    return [out];
  },
  aeadOpen(key, nonce, ad, sealed) {
    return sealed.length <= SMALL_AEAD_BYTES + TAG_LENGTH ? openSmall(key, nonce, ad, sealed) : nodeCryptoProvider.aeadOpen(key, nonce, ad, sealed);
  },
  aeadSealPieces(key, nonce, pieces, prefix) {
    return piecesLength(pieces) <= SMALL_AEAD_BYTES ? nativeProvider.aeadSealParts(key, nonce, joinedPieces(pieces), prefix) : nodeCryptoProvider.aeadSealPieces(key, nonce, pieces, prefix);
  },
  aeadOpenPieces(key, nonce, pieces) {
    if (piecesLength(pieces) > SMALL_AEAD_BYTES + TAG_LENGTH) return nodeCryptoProvider.aeadOpenPieces(key, nonce, pieces);
    const out = openSmall(key, nonce, EMPTY, joinedPieces(pieces));
    return out.length === 0 ? [] : [out];
  },
};
