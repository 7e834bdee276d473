/**
 * The small-message ChaCha20-Poly1305: the RFC 8439 AEAD vector, Poly1305 against a BigInt
 * reference of its definition (including the final reduction when h lands in [p, 2^130)), and
 * thousands of random keys, nonces, AD and lengths against node:crypto, with every tampering
 * refused.
 */
import { expect } from 'chai';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { chacha20poly1305Open, chacha20poly1305Seal, poly1305FullBlocks } from '../../../core/crypto/chacha20poly1305.js';
import { toHexString } from '../../support/vectors.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const EMPTY = new Uint8Array(0);

function nodeSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  if (ad.length > 0) c.setAAD(ad, { plaintextLength: plaintext.length });
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function seal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, offset = 0): Uint8Array {
  const out = new Uint8Array(offset + plaintext.length + 16).fill(0xee);
  chacha20poly1305Seal(key, nonce, ad, plaintext, out, offset);
  expect(toHexString(out.subarray(0, offset))).to.equal('ee'.repeat(offset)); // the prefix is left alone
  return out.subarray(offset);
}

/** Poly1305 straight from its definition (RFC 8439 section 2.5), on whole 16-byte blocks. */
function referencePoly1305(key: Uint8Array, message: Uint8Array): Uint8Array {
  const le = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`);
  const p = (1n << 130n) - 5n;
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = le(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < message.length; i += 16) acc = ((acc + le(message.subarray(i, i + 16)) + (1n << 128n)) * r) % p;
  const tag = (acc + s) & ((1n << 128n) - 1n);
  return Uint8Array.from(Buffer.from(tag.toString(16).padStart(32, '0'), 'hex').reverse());
}

describe('ChaCha20-Poly1305 for small messages', () => {
  it('the RFC 8439 section 2.8.2 AEAD vector, sealed and opened', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('070000004041424344454647');
    const ad = hex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const expected =
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116' +
      '1ae10b594f09e26a7e902ecbd0600691';
    expect(toHexString(seal(key, nonce, ad, plaintext, 2))).to.equal(expected);
    expect(Buffer.from(chacha20poly1305Open(key, nonce, ad, hex(expected))!).toString()).to.equal(plaintext.toString());
  });

  it('Poly1305 equals the definition, including h in [p, 2^130) before the final reduction', () => {
    const ones = new Uint8Array(16).fill(0xff);
    const r1 = new Uint8Array(32);
    r1[0] = 1; // r = 1
    // With r = 1 two all-ones blocks leave h = 2^130 - 2: above p, so the tag depends on the reduction.
    const cases: Array<[Uint8Array, Uint8Array]> = [
      [r1, Buffer.concat([ones, ones])],
      [r1, Buffer.concat([ones, ones, ones, ones])],
      [new Uint8Array(32).fill(0xff), Buffer.concat([ones, ones, ones])],
      [new Uint8Array(32), Buffer.concat([ones])],
    ];
    for (const [k, m] of cases) expect(toHexString(poly1305FullBlocks(k, m))).to.equal(toHexString(referencePoly1305(k, m)));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 12 }), fc.constantFrom(0, 0xff, -1), (k, blocks, fill) => {
        const m = fill === -1 ? randomBytes(16 * blocks) : new Uint8Array(16 * blocks).fill(fill);
        expect(toHexString(poly1305FullBlocks(k, m))).to.equal(toHexString(referencePoly1305(k, m)));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives node:crypto\'s bytes for random keys, nonces, AD and lengths 0-700, and opens them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 70 }), fc.integer({ min: 0, max: 700 }), fc.integer({ min: 0, max: 3 }), (key, nonce, ad, size, offset) => {
        const plaintext = randomBytes(size);
        const sealed = seal(key, nonce, ad, plaintext, offset);
        expect(toHexString(sealed)).to.equal(toHexString(nodeSeal(key, nonce, ad, plaintext)));
        expect(toHexString(chacha20poly1305Open(key, nonce, ad, sealed)!)).to.equal(toHexString(plaintext));
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses every single-bit change of ciphertext, tag or AD, another nonce, and short input', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const ad = randomBytes(20);
    const sealed = seal(key, nonce, ad, randomBytes(45));
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const t = Uint8Array.from(sealed);
      t[bit >> 3]! ^= 1 << (bit & 7);
      expect(chacha20poly1305Open(key, nonce, ad, t), `bit ${bit}`).to.equal(null);
    }
    for (let bit = 0; bit < ad.length * 8; bit++) {
      const a = Uint8Array.from(ad);
      a[bit >> 3]! ^= 1 << (bit & 7);
      expect(chacha20poly1305Open(key, nonce, a, sealed)).to.equal(null);
    }
    const other = Uint8Array.from(nonce);
    other[11]! ^= 0x80;
    expect(chacha20poly1305Open(key, other, ad, sealed)).to.equal(null);
    expect(chacha20poly1305Open(key, nonce, ad, sealed.subarray(0, 15))).to.equal(null);
    expect(chacha20poly1305Open(key, nonce, EMPTY, seal(key, nonce, EMPTY, EMPTY))).to.deep.equal(new Uint8Array(0));
  });
});
