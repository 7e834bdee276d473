import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as stablelib from '@stablelib/ed25519';
import { ed25519PrivateKey, ed25519PublicKeyOf, ed25519Sign, ed25519Verify } from '../../core/ed25519.js';
import { NodeIdentity } from '../../core/keys.js';

describe('Ed25519 through node:crypto, cross-checked with @stablelib/ed25519', () => {
  it('derives the same keys, makes the same signatures and reaches the same verdicts on 500 random cases', () => {
    for (let i = 0; i < 500; i++) {
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
