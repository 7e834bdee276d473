import { randomBytes } from 'node:crypto';
import { convertPublicKeyToX25519 } from '@stablelib/ed25519';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { InvalidPublicKey } from '../../core/errors.js';
import { isValidEd25519PublicKey } from '../../core/ed25519-point.js';
import { compareDistance, distance, NodeIdentity, nodeIdOf, toNodeId, toPublicKey, x25519PublicOf } from '../../core/keys.js';
import { nativeProvider, stablelibProvider } from '../../core/crypto/index.js';
import { hex, loadVectors, toHexString } from '../support/vectors.js';

const file = loadVectors('tcomms-keys.json');

describe('keys and identifiers (PROTOCOL.md section 0)', () => {
  for (const k of file.keys as any[]) {
    it(`derives every value of ${k.name}`, () => {
      const id = NodeIdentity.fromSeed(hex(k.ed25519_seed));
      expect(toHexString(id.publicKey)).to.equal(k.ed25519_public);
      expect(toHexString(createHash('sha512').update(hex(k.ed25519_seed)).digest())).to.equal(k.sha512_of_seed);
      expect(toHexString(id.noiseStaticSecret())).to.equal(k.x25519_private);
      expect(toHexString(id.noisePublicKey)).to.equal(k.x25519_public);
      expect(toHexString(x25519PublicOf(id.publicKey))).to.equal(k.x25519_public);
      expect(toHexString(createHash('blake2s256').update(id.publicKey).digest())).to.equal(k.blake2s256_of_ed25519_public);
      expect(toHexString(id.nodeId)).to.equal(k.node_id);
      expect(toHexString(nodeIdOf(hex(k.ed25519_public)))).to.equal(k.node_id);
      // Both providers derive the same X25519 public key from the clamped and unclamped scalars.
      for (const p of [stablelibProvider, nativeProvider]) {
        expect(toHexString(p.x25519FromSecret(hex(k.x25519_private)).publicKey)).to.equal(k.x25519_public);
        expect(toHexString(p.x25519FromSecret(hex(k.x25519_private_unclamped)).publicKey)).to.equal(k.x25519_public);
      }
      expect(isValidEd25519PublicKey(id.publicKey)).to.equal(true);
      expect(toHexString(toPublicKey(id.publicKey))).to.equal(k.ed25519_public);
    });
  }

  describe('invalid public keys are rejected (libsodium checks)', () => {
    const reasons: Record<string, string> = {
      'small-order point': 'small-order',
      'non-canonical y coordinate (y >= p)': 'non-canonical',
      'not a point on the curve': 'not-on-curve',
      'point is not in the prime-order subgroup': 'mixed-order',
    };
    for (const c of file.invalid_public_keys.cases as any[]) {
      it(c.what, () => {
        expect(isValidEd25519PublicKey(hex(c.ed25519_public))).to.equal(false);
        try {
          toPublicKey(hex(c.ed25519_public));
          expect.fail('accepted an invalid key');
        } catch (err) {
          expect(err).to.be.instanceOf(InvalidPublicKey);
          expect((err as InvalidPublicKey).reason).to.equal(reasons[c.reference_peer]);
        }
      });
    }
    it('rejects keys of the wrong length', () => {
      expect(() => toPublicKey(new Uint8Array(31))).to.throw(InvalidPublicKey);
    });
    it('accepts every honestly generated key (property)', () => {
      for (let i = 0; i < 50; i++) expect(isValidEd25519PublicKey(NodeIdentity.generate().publicKey)).to.equal(true);
    });
  });

  describe('XOR distance', () => {
    const nodeId = fc.uint8Array({ minLength: 13, maxLength: 13 }).map(toNodeId);
    it('is symmetric, zero only to itself, and ordered as a 104-bit big-endian integer', () => {
      fc.assert(
        fc.property(nodeId, nodeId, (a, b) => {
          expect(toHexString(distance(a, b))).to.equal(toHexString(distance(b, a)));
          expect(compareDistance(distance(a, a), new Uint8Array(13))).to.equal(0);
          const big = (x: Uint8Array) => BigInt('0x' + toHexString(x));
          const expected = big(a) < big(b) ? -1 : big(a) > big(b) ? 1 : 0;
          expect(compareDistance(a, b)).to.equal(expected);
          expect(big(distance(a, b))).to.equal(big(a) ^ big(b));
        }),
        { numRuns: 2000 },
      );
    });
    it('satisfies the triangle inequality of XOR metrics', () => {
      fc.assert(
        fc.property(nodeId, nodeId, nodeId, (a, b, c) => {
          const big = (x: Uint8Array) => BigInt('0x' + toHexString(x));
          return big(distance(a, c)) <= big(distance(a, b)) + big(distance(b, c));
        }),
        { numRuns: 1000 },
      );
    });
  });

  it('never exposes the secret key when inspected or serialised', async () => {
    const id = NodeIdentity.fromSeed(hex(file.keys[0].ed25519_seed));
    const { inspect } = await import('node:util');
    const shown = inspect(id, { depth: 5 }) + JSON.stringify(id);
    expect(shown).to.not.include('9d61b1');
    expect(shown.replace(/\s|,|\[|\]/g, '')).to.not.include('157,97,177');
    expect(toHexString(id.exportSeed())).to.equal(file.keys[0].ed25519_seed);
  });
  it('x25519PublicOf (u from y alone) equals @stablelib\'s converter on random keys', () => {
    for (let i = 0; i < 500; i++) {
      const id = NodeIdentity.fromSeed(randomBytes(32));
      expect(toHexString(x25519PublicOf(id.publicKey))).to.equal(toHexString(convertPublicKeyToX25519(id.publicKey)));
    }
  });
});
