import { expect } from 'chai';
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { DecryptionFailed, hkdf, InvalidKeyHandle, LowOrderPoint, nodeCryptoProvider as native, nativeProvider as hybrid, stablelibProvider as js, SMALL_AEAD_BYTES } from '../../../core/crypto/index.js';
import { toHexString } from '../../support/vectors.js';

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const key = bytes(32, 32);
const nonce = bytes(12, 12);
const same = (a: Uint8Array, b: Uint8Array): void => {
  expect(toHexString(a)).to.equal(toHexString(b));
};

/** Encodings of small-order points on Curve25519 (u = 0, 1, and the order-8 points), plus p and p+1. */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

describe('crypto providers: stablelib and native give identical bytes', () => {
  it('BLAKE2s-256 on thousands of random inputs', () => {
    fc.assert(fc.property(bytes(0, 300), bytes(0, 80), (a, b) => same(js.hash(a, b), native.hash(a, b))), { numRuns: 3000 });
  });

  it('HMAC-BLAKE2s on thousands of random keys (short, 64-byte and long) and messages', () => {
    fc.assert(fc.property(bytes(0, 150), bytes(0, 200), (k, m) => same(js.hmac(k, m), native.hmac(k, m))), { numRuns: 3000 });
  });

  it('Noise HKDF (2 and 3 outputs)', () => {
    fc.assert(
      fc.property(key, bytes(0, 64), (ck, ikm) => {
        for (const n of [2, 3] as const) {
          const a = hkdf(js, ck, ikm, n);
          const b = hkdf(native, ck, ikm, n);
          a.forEach((x, i) => same(x, b[i]!));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('ChaCha20-Poly1305 seal, sealParts and open, each way, on thousands of inputs', () => {
    fc.assert(
      fc.property(key, nonce, bytes(0, 64), bytes(0, 2000), fc.integer({ min: 0, max: 4 }), (k, n, ad, pt, prefix) => {
        const a = js.aeadSeal(k, n, ad, pt);
        same(a, native.aeadSeal(k, n, ad, pt));
        same(js.aeadOpen(k, n, ad, a), pt);
        same(native.aeadOpen(k, n, ad, a), pt);
        const flat = (parts: Uint8Array[]) => Buffer.concat(parts).subarray(prefix);
        const empty = new Uint8Array(0);
        same(flat(js.aeadSealParts(k, n, pt, prefix)), js.aeadSeal(k, n, empty, pt));
        same(flat(native.aeadSealParts(k, n, pt, prefix)), js.aeadSeal(k, n, empty, pt));
      }),
      { numRuns: 3000 },
    );
  });

  it('both reject a tampered ciphertext, tag, AD or a short input with DecryptionFailed', () => {
    fc.assert(
      fc.property(key, nonce, bytes(0, 32), bytes(1, 300), fc.nat(), (k, n, ad, pt, pos) => {
        const sealed = js.aeadSeal(k, n, ad, pt);
        const bad = Uint8Array.from(sealed);
        bad[pos % bad.length]! ^= 1 << (pos % 8);
        for (const p of [js, native]) {
          expect(() => p.aeadOpen(k, n, ad, bad)).to.throw(DecryptionFailed);
          expect(() => p.aeadOpen(k, n, Uint8Array.of(...ad, 1), sealed)).to.throw(DecryptionFailed);
          expect(() => p.aeadOpen(k, n, ad, sealed.subarray(0, pos % 16))).to.throw(DecryptionFailed);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('X25519: same public keys and shared secrets across providers', () => {
    for (let i = 0; i < 300; i++) {
      const sa = randomBytes(32);
      const sb = randomBytes(32);
      const a1 = js.x25519FromSecret(sa);
      const a2 = native.x25519FromSecret(sa);
      same(a1.publicKey, a2.publicKey);
      const b = js.x25519FromSecret(sb);
      same(js.x25519DH(a1, b.publicKey), native.x25519DH(a2, b.publicKey));
    }
    const g = native.x25519Generate();
    same(js.x25519FromSecret(g.secretKey).publicKey, g.publicKey);
    const h = js.x25519Generate();
    same(native.x25519FromSecret(h.secretKey).publicKey, h.publicKey);
  });

  it('X25519: both reject low-order points (all-zero shared secret) with LowOrderPoint', () => {
    for (const p of [js, native]) {
      const own = p.x25519Generate();
      for (const point of LOW_ORDER) expect(() => p.x25519DH(own, Buffer.from(point, 'hex')), `${p.name} ${point}`).to.throw(LowOrderPoint);
    }
  });
});

describe('the default provider (node:crypto, small AEAD in JS)', () => {
  it('seals and opens exactly as node:crypto does on both sides of the size split', () => {
    fc.assert(
      fc.property(key, nonce, bytes(0, 40), fc.integer({ min: 0, max: 2 * SMALL_AEAD_BYTES }), (k, n, ad, size) => {
        const plaintext = randomBytes(size);
        const sealed = hybrid.aeadSeal(k, n, ad, plaintext);
        same(sealed, native.aeadSeal(k, n, ad, plaintext));
        same(hybrid.aeadOpen(k, n, ad, sealed), plaintext);
        same(Buffer.concat(hybrid.aeadSealParts(k, n, plaintext, 2)).subarray(2), Buffer.concat(native.aeadSealParts(k, n, plaintext, 2)).subarray(2));
        const tampered = Uint8Array.from(sealed);
        tampered[tampered.length - 1]! ^= 1;
        expect(() => hybrid.aeadOpen(k, n, ad, tampered)).to.throw(DecryptionFailed);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('native X25519 handles', () => {
  it('a handle moves to another key pair object only when it is that pair\'s private key', () => {
    const a = native.x25519Generate();
    const b = native.x25519Generate();
    const copy = { secretKey: Uint8Array.from(a.secretKey), publicKey: Uint8Array.from(a.publicKey) };
    native.x25519Adopt!(copy, native.x25519Handle!(a));
    const remote = js.x25519Generate();
    expect(toHexString(native.x25519DH(copy, remote.publicKey))).to.equal(toHexString(js.x25519DH(a, remote.publicKey)));
    expect(() => native.x25519Adopt!(copy, native.x25519Handle!(b))).to.throw(InvalidKeyHandle);
    expect(() => native.x25519Adopt!(copy, 'not a key')).to.throw(InvalidKeyHandle);
    expect(() => native.x25519Adopt!(copy, createPublicKey(native.x25519Handle!(a) as KeyObject))).to.throw(InvalidKeyHandle);
    expect(js.x25519Handle).to.equal(undefined);
  });

  it('a remote public key changed in place after a DH is imported again, not served stale', () => {
    const own = native.x25519Generate();
    const remote = new Uint8Array(js.x25519Generate().publicKey);
    expect(toHexString(native.x25519DH(own, remote))).to.equal(toHexString(js.x25519DH(own, remote)));
    remote.set(js.x25519Generate().publicKey);
    expect(toHexString(native.x25519DH(own, remote))).to.equal(toHexString(js.x25519DH(own, remote)));
  });
});

describe('AEAD over pieces (a message from several writes, or read in several chunks)', () => {
  it('sealing pieces gives the bytes of sealing their concatenation, and opening any split gives the plaintext back, for every provider', () => {
    const providers = [js, native, hybrid];
    for (let run = 0; run < 200; run++) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const size = run % 4 === 0 ? Math.floor(Math.random() * 300) : Math.floor(Math.random() * 70_000);
      const plaintext = randomBytes(size);
      const cuts = Array.from({ length: run % 5 }, () => Math.floor(Math.random() * (size + 1))).sort((a, b) => a - b);
      const pieces = [0, ...cuts].map((c, i, all) => plaintext.subarray(c, i + 1 < all.length ? all[i + 1] : size));
      // The 2 prefix bytes are left for the caller to fill: only what follows them is compared.
      const expected = toHexString(Buffer.concat(native.aeadSealParts(key, nonce, plaintext, 2)).subarray(2));
      for (const p of providers) {
        const sealed = Buffer.concat(p.aeadSealPieces(key, nonce, pieces, 2));
        expect(sealed.length, p.name).to.equal(2 + size + 16);
        expect(toHexString(sealed.subarray(2)), p.name).to.equal(expected);
        const body = sealed.subarray(2);
        // Split the sealed bytes anywhere, the tag included.
        const at = [Math.floor(Math.random() * body.length), body.length - 1 - (run % 16)].filter((x) => x > 0 && x < body.length).sort((a, b) => a - b);
        const sealedPieces = [0, ...at].map((c, i, all) => body.subarray(c, i + 1 < all.length ? all[i + 1] : body.length));
        expect(Buffer.concat(p.aeadOpenPieces(key, nonce, sealedPieces)).equals(plaintext), p.name).to.equal(true);
        const bad = Buffer.from(body);
        bad[bad.length - 1 - (run % 16)]! ^= 0x80;
        expect(() => p.aeadOpenPieces(key, nonce, [bad.subarray(0, 5), bad.subarray(5)]), p.name).to.throw(DecryptionFailed);
      }
    }
  });

  it('pieces shorter than a tag in all are DecryptionFailed', () => {
    for (const p of [js, native, hybrid]) expect(() => p.aeadOpenPieces(randomBytes(32), randomBytes(12), [randomBytes(7), randomBytes(8)])).to.throw(DecryptionFailed);
  });
});
