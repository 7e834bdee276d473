/** The node:crypto provider (OpenSSL): X25519 KeyObjects, chacha20-poly1305, blake2s256. */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { asBuffer } from '../bytes.js';
import { DecryptionFailed, LowOrderPoint, TAG_LENGTH, type CryptoProvider, type X25519KeyPair } from './provider.js';

/** DER prefix of a PKCS#8 X25519 private key (RFC 8410); the 32 raw bytes follow. */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** Native private-key handles, kept beside the key pairs that own them. */
const handles = new WeakMap<X25519KeyPair, KeyObject>();
/**
 * Handles by secret key, for key pairs that crossed a thread boundary (structured clones lose
 * the WeakMap entry). Bounded: the oldest entry goes first. Only this process's own keys.
 */
const bySecret = new Map<string, KeyObject>();
const BY_SECRET_LIMIT = 256;

function privateHandle(pair: X25519KeyPair): KeyObject {
  let handle = handles.get(pair);
  if (handle !== undefined) return handle;
  const id = asBuffer(pair.secretKey).toString('base64url');
  handle = bySecret.get(id);
  if (handle === undefined) {
    handle = importPrivate(pair);
    if (bySecret.size >= BY_SECRET_LIMIT) bySecret.delete(bySecret.keys().next().value!);
    bySecret.set(id, handle);
  }
  handles.set(pair, handle);
  return handle;
}

function importPrivate(pair: X25519KeyPair): KeyObject {
  if (pair.publicKey.length === 32 && pair.publicKey.some((b) => b !== 0)) {
    // JWK import is about 7x faster than PKCS#8 DER, but needs the public key beside the secret.
    const jwk = { kty: 'OKP', crv: 'X25519', d: asBuffer(pair.secretKey).toString('base64url'), x: asBuffer(pair.publicKey).toString('base64url') };
    return createPrivateKey({ key: jwk, format: 'jwk' });
  }
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, asBuffer(pair.secretKey)]), format: 'der', type: 'pkcs8' });
}

function publicHandle(publicKey: Uint8Array): KeyObject {
  // JWK import is about 6x faster than SPKI DER import in OpenSSL 3.
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: asBuffer(publicKey).toString('base64url') }, format: 'jwk' });
}

function rawOf(jwkField: string | undefined): Uint8Array {
  return new Uint8Array(Buffer.from(jwkField ?? '', 'base64url'));
}

function cipherOptions() {
  return { authTagLength: TAG_LENGTH } as const;
}

/** node:crypto provider. */
export const nativeProvider: CryptoProvider = {
  name: 'native',
  x25519Generate(): X25519KeyPair {
    const { privateKey } = generateKeyPairSync('x25519');
    const jwk = privateKey.export({ format: 'jwk' });
    const pair: X25519KeyPair = { secretKey: rawOf(jwk.d), publicKey: rawOf(jwk.x) };
    handles.set(pair, privateKey);
    return pair;
  },
  x25519FromSecret(secretKey: Uint8Array): X25519KeyPair {
    const provisional: X25519KeyPair = { secretKey: Uint8Array.from(secretKey), publicKey: new Uint8Array(32) };
    const handle = privateHandle(provisional);
    const pair: X25519KeyPair = { secretKey: provisional.secretKey, publicKey: rawOf(createPublicKey(handle).export({ format: 'jwk' }).x) };
    handles.set(pair, handle);
    return pair;
  },
  x25519DH(own: X25519KeyPair, theirPublic: Uint8Array): Uint8Array {
    if (theirPublic.length !== 32) throw new LowOrderPoint();
    try {
      return new Uint8Array(diffieHellman({ privateKey: privateHandle(own), publicKey: publicHandle(theirPublic) }));
    } catch {
      // OpenSSL refuses an all-zero shared secret ("failed during derivation").
      throw new LowOrderPoint();
    }
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
