import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as stablelib from '@stablelib/ed25519';
import { ed25519PrivateKey, ed25519PublicKeyOf, ed25519Sign, ed25519Verify } from '../../core/ed25519.js';
import { NodeIdentity } from '../../core/keys.js';

describe('Ed25519 through node:crypto, cross-checked with @stablelib/ed25519', () => {
  it('derives the same keys, makes the same signatures and reaches the same verdicts on 30 random cases', () => {
    for (let i = 0; i < 30; i++) {
      const seed = randomBytes(32);
      const ref = stablelib.generateKeyPairFromSeed(seed);
      const key = ed25519PrivateKey(seed);
      expect(Buffer.from(ed25519PublicKeyOf(key)).equals(Buffer.from(ref.publicKey))).to.equal(true);
      const msg = randomBytes(i % 97);
      const sig = ed25519Sign(key, msg);
      expect(Buffer.from(sig).equals(Buffer.from(stablelib.sign(ref.secretKey, msg)))).to.equal(true);
      expect(ed25519Verify(ref.publicKey, msg, sig)).to.equal(true);
      const bad = Uint8Array.from(sig);
      bad[i % 64]! ^= 1 << (i % 8);
      expect(ed25519Verify(ref.publicKey, msg, bad)).to.equal(stablelib.verify(ref.publicKey, msg, bad));
      expect(ed25519Verify(ref.publicKey, randomBytes(8), sig)).to.equal(false);
    }
  });

  it('NodeIdentity keeps the X25519 forms stablelib derives', () => {
    for (let i = 0; i < 100; i++) {
      const seed = randomBytes(32);
      const id = NodeIdentity.fromSeed(seed);
      const ref = stablelib.generateKeyPairFromSeed(seed);
      expect(Buffer.from(id.noisePublicKey).equals(Buffer.from(stablelib.convertPublicKeyToX25519(ref.publicKey)))).to.equal(true);
      expect(Buffer.from(id.noiseStaticSecret()).equals(Buffer.from(stablelib.convertSecretKeyToX25519(ref.secretKey)))).to.equal(true);
    }
  });

  it('garbage keys and signatures of any length are false, never a throw', () => {
    for (let i = 0; i < 300; i++) {
      expect(ed25519Verify(randomBytes(i % 40), randomBytes(10), randomBytes(i % 70))).to.equal(false);
    }
  });
});

describe('the small-order R check for signatures under a valid key', () => {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const le = (b: Uint8Array) => b.reduceRight((n, byte) => (n << 8n) | BigInt(byte), 0n);
  const toLe = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

  it('rejects R = identity, which cofactorless verification alone would accept (S = k*a)', async () => {
    const { createHash } = await import('node:crypto');
    const { ed25519SignatureProblem, ed25519SignatureProblemForValidKey } = await import('../../core/ed25519-point.js');
    const seed = randomBytes(32);
    const h = createHash('sha512').update(seed).digest();
    const a = Uint8Array.from(h.subarray(0, 32));
    a[0]! &= 248;
    a[31]! &= 127;
    a[31]! |= 64;
    const A = stablelib.generateKeyPairFromSeed(seed).publicKey;
    const R = toLe(1n); // the identity point's encoding
    const msg = randomBytes(32);
    const k = le(createHash('sha512').update(Buffer.concat([R, A, msg])).digest()) % L;
    const S = (k * le(a)) % L;
    const sig = Buffer.concat([R, toLe(S)]);
    expect(ed25519Verify(A, msg, sig)).to.equal(true); // the equation holds: only the R check stops it
    expect(ed25519SignatureProblem(sig)).to.match(/small order/);
    expect(ed25519SignatureProblemForValidKey(sig)).to.match(/small order/);
    const negativeZero = Buffer.from(sig);
    negativeZero[31]! |= 0x80;
    expect(ed25519SignatureProblemForValidKey(negativeZero)).to.match(/small order/);
  });

  it('agrees with the decompressing check plus verification on random and tampered signatures', async () => {
    const { ed25519SignatureProblem, ed25519SignatureProblemForValidKey } = await import('../../core/ed25519-point.js');
    for (let i = 0; i < 300; i++) {
      const seed = randomBytes(32);
      const key = ed25519PrivateKey(seed);
      const A = ed25519PublicKeyOf(key);
      const msg = randomBytes(16);
      let sig = ed25519Sign(key, msg);
      if (i % 3 === 1) sig = randomBytes(64);
      if (i % 3 === 2) sig = Buffer.concat([sig.subarray(0, 32), Buffer.alloc(32, 0xff)]);
      const slow = ed25519SignatureProblem(sig) === undefined && ed25519Verify(A, msg, sig);
      const fast = ed25519SignatureProblemForValidKey(sig) === undefined && ed25519Verify(A, msg, sig);
      expect(fast).to.equal(slow);
    }
  });
});

describe("the X25519 form of an Ed25519 key, checked without an inversion", () => {
  it('montgomeryUMatches(k, u) is exactly equals(montgomeryUOf(k), u): real keys, any 32 bytes, edge values', async () => {
    const { montgomeryUMatches, montgomeryUOf } = await import('../../core/ed25519-point.js');
    const { equals } = await import('../../core/bytes.js');
    const P = 2n ** 255n - 19n;
    const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
    const keys: Uint8Array[] = [le(0n), le(1n), le(P - 1n), le(P), le(P + 1n), le(2n ** 255n - 1n), le(2n ** 256n - 1n)];
    for (let i = 0; i < 40; i++) keys.push(NodeIdentity.generate().publicKey, randomBytes(32));
    for (const k of keys) {
      const u = montgomeryUOf(k);
      const candidates = [u, le(0n), randomBytes(32), Uint8Array.from(u, (b, i) => (i === 0 ? b ^ 1 : b))];
      // The same value not reduced (u + p, when it fits in 255 bits) is not the canonical form.
      let v = 0n;
      for (let i = 31; i >= 0; i--) v = (v << 8n) | BigInt(u[i]!);
      if (v + P < 2n ** 256n) candidates.push(le(v + P));
      for (const c of candidates) expect(montgomeryUMatches(k, c), `key ${Buffer.from(k).toString('hex')} u ${Buffer.from(c).toString('hex')}`).to.equal(equals(u, c));
      expect(montgomeryUMatches(k, u)).to.equal(true);
    }
  });
});
