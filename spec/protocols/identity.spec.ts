import { expect } from 'chai';
import fc from 'fast-check';
import { TcommsError } from '../../core/errors.js';
import { fullKeyChecks } from '../../core/ed25519-point.js';
import { NodeIdentity, x25519PublicOf } from '../../core/keys.js';
import {
  createIdentityMessage,
  encodeIdentityFrame,
  IdentityFrameReader,
  identityChallenge,
  identityPreimage,
  IdentityInvalid,
  validateIdentityMessage,
  verifyIdentitySignature,
  type IdentityInvalidReason,
} from '../../protocols/identity/index.js';
import { hex, loadVectors, toHexString } from '../support/vectors.js';
import { splitAt } from '../support/streams.js';

interface Example {
  what: string;
  noise_static: string;
  peer_identity_msg_protobuf: string;
  reason?: IdentityInvalidReason;
  dialed_public_key?: string;
  expected_as_dialer?: string;
  expected_as_responder?: string;
}

const v = loadVectors<{
  ed25519_seed: string;
  public_key: string;
  addresses: Array<{ hex: string }>;
  features: number;
  supported_protocols: string[];
  user_agent: string;
  updated_at: number;
  receiver_clock: number;
  challenge_preimage: string;
  challenge_blake2s256: string;
  signature: string;
  peer_identity_msg_protobuf: string;
  identity_frame: string;
  noise_static: string;
  valid_examples: Example[];
  invalid_examples: Example[];
  dialer_examples: Example[];
}>('tcomms-identity.json');

const identity = NodeIdentity.fromSeed(hex(v.ed25519_seed));
const content = {
  addresses: v.addresses.map((a) => hex(a.hex)),
  features: v.features,
  supportedProtocols: v.supported_protocols,
  userAgent: v.user_agent,
  updatedAt: BigInt(v.updated_at),
};
const now = BigInt(v.receiver_clock);

describe('identity exchange (PROTOCOL.md section 5)', () => {
  it('builds the preimage, the challenge, the signature, the canonical message and the frame of the vectors', () => {
    const signed = { publicKey: identity.publicKey, version: 0, updatedAt: content.updatedAt, features: content.features, addresses: content.addresses };
    expect(toHexString(identityPreimage(signed))).to.equal(v.challenge_preimage);
    expect(toHexString(identityChallenge(signed))).to.equal(v.challenge_blake2s256);
    expect(verifyIdentitySignature(signed, hex(v.signature))).to.equal(true);
    const message = createIdentityMessage(identity, content);
    expect(toHexString(message)).to.equal(v.peer_identity_msg_protobuf);
    expect(toHexString(encodeIdentityFrame(message))).to.equal(v.identity_frame);
  });

  it('a claim verified once is remembered for exactly its key, signature and signed fields: any other bit still fails', () => {
    const signed = { publicKey: identity.publicKey, version: 0, updatedAt: content.updatedAt, features: content.features, addresses: content.addresses };
    const signature = hex(v.signature);
    for (let round = 0; round < 2; round++) expect(verifyIdentitySignature(signed, signature)).to.equal(true);
    for (let bit = 0; bit < 512; bit++) {
      const flipped = Uint8Array.from(signature);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(verifyIdentitySignature(signed, flipped), `signature bit ${bit}`).to.equal(false);
    }
    expect(verifyIdentitySignature({ ...signed, updatedAt: signed.updatedAt + 1n }, signature)).to.equal(false);
    expect(verifyIdentitySignature({ ...signed, features: signed.features ^ 1 }, signature)).to.equal(false);
    expect(verifyIdentitySignature({ ...signed, publicKey: NodeIdentity.generate().publicKey }, signature)).to.equal(false);
    expect(verifyIdentitySignature({ ...signed, version: 1 }, signature)).to.equal(false);
    expect(verifyIdentitySignature({ ...signed, addresses: [] }, signature)).to.equal(false);
    expect(verifyIdentitySignature({ ...signed, addresses: [...signed.addresses, Uint8Array.of(4, 127, 0, 0, 1)] }, signature)).to.equal(false);
    const [first, ...rest] = signed.addresses;
    if (first) expect(verifyIdentitySignature({ ...signed, addresses: [Uint8Array.from(first, (b, i) => (i === first.length - 1 ? b ^ 1 : b)), ...rest] }, signature)).to.equal(false);
    expect(verifyIdentitySignature(signed, signature)).to.equal(true);
  });

  it('accepts every valid example', () => {
    for (const e of [{ what: 'base identity', noise_static: v.noise_static, peer_identity_msg_protobuf: v.peer_identity_msg_protobuf }, ...v.valid_examples]) {
      const got = validateIdentityMessage(hex(e.peer_identity_msg_protobuf), { noiseStatic: hex(e.noise_static), nowSeconds: now });
      expect(toHexString(x25519PublicOf(got.publicKey)), e.what).to.equal(e.noise_static);
    }
    expect(v.valid_examples.length).to.equal(7);
  });

  it('rejects every invalid example, for the reason the vectors give', () => {
    for (const e of v.invalid_examples) {
      let caught: unknown;
      try {
        validateIdentityMessage(hex(e.peer_identity_msg_protobuf), { noiseStatic: hex(e.noise_static), nowSeconds: now });
      } catch (err) {
        caught = err;
      }
      expect(caught, e.what).to.be.instanceOf(IdentityInvalid);
      expect((caught as IdentityInvalid).reason, e.what).to.equal(e.reason);
      expect((caught as IdentityInvalid).kind).to.equal('protocol');
    }
    expect(v.invalid_examples.length).to.equal(28);
  });

  it('a dialer requires the key it dialed; a responder accepts the negated key', () => {
    for (const e of v.dialer_examples) {
      const bytes = hex(e.peer_identity_msg_protobuf);
      expect(() => validateIdentityMessage(bytes, { noiseStatic: hex(e.noise_static), nowSeconds: now })).to.not.throw();
      expect(() => validateIdentityMessage(bytes, { noiseStatic: hex(e.noise_static), nowSeconds: now, dialedPublicKey: hex(e.dialed_public_key!) }))
        .to.throw(IdentityInvalid)
        .with.property('reason', 'dialed_key_mismatch');
    }
  });

  it('rejects a valid claim whose key is not the Noise static key it arrived with', () => {
    const other = NodeIdentity.generate();
    expect(() => validateIdentityMessage(createIdentityMessage(identity, content), { noiseStatic: other.noisePublicKey, nowSeconds: now }))
      .to.throw(IdentityInvalid)
      .with.property('reason', 'public_key_mismatch');
  });

  it('compares the claimed key with the Noise static key before the costly validity check, and remembers invalid keys', () => {
    const invalid = v.invalid_examples.filter((e) => e.reason === 'public_key_invalid');
    expect(invalid.length).to.equal(2);
    for (const e of invalid) {
      const bytes = hex(e.peer_identity_msg_protobuf);
      // Against another static key: refused by the cheap comparison, the key never checked.
      const before = fullKeyChecks();
      expect(() => validateIdentityMessage(bytes, { noiseStatic: NodeIdentity.generate().noisePublicKey, nowSeconds: now }))
        .to.throw(IdentityInvalid)
        .with.property('reason', 'public_key_mismatch');
      expect(fullKeyChecks(), e.what).to.equal(before);
      // Against its own static key: checked once, then answered from the cache of invalid keys.
      for (let round = 0; round < 3; round++) {
        expect(() => validateIdentityMessage(bytes, { noiseStatic: hex(e.noise_static), nowSeconds: now }))
          .to.throw(IdentityInvalid)
          .with.property('reason', 'public_key_invalid');
      }
      expect(fullKeyChecks() - before, e.what).to.be.at.most(1);
    }
    // A valid key is checked at most once too.
    const fresh = NodeIdentity.generate();
    const message = createIdentityMessage(fresh, content);
    const before = fullKeyChecks();
    for (let round = 0; round < 3; round++) validateIdentityMessage(message, { noiseStatic: fresh.noisePublicKey, nowSeconds: now });
    expect(fullKeyChecks() - before).to.be.at.most(1);
  });

  it('reads one frame under any chunking and refuses bytes after it, other versions and long frames', () => {
    const frame = hex(v.identity_frame);
    fc.assert(
      fc.property(fc.array(fc.nat(frame.length), { maxLength: 6 }), (cuts) => {
        const r = new IdentityFrameReader();
        let got: Uint8Array | undefined;
        for (const piece of splitAt(frame, cuts)) got = r.push(piece) ?? got;
        return got !== undefined && toHexString(got) === v.peer_identity_msg_protobuf && toHexString(r.end()) === v.peer_identity_msg_protobuf;
      }),
      { numRuns: 500 },
    );
    const r = new IdentityFrameReader();
    r.push(frame);
    expect(() => r.push(Uint8Array.of(0))).to.throw(IdentityInvalid);
    expect(() => new IdentityFrameReader().push(Uint8Array.of(2, 0, 1, 0))).to.throw(/frame version 2/);
    expect(() => new IdentityFrameReader().push(Uint8Array.of(1, 4, 1))).to.throw(/exceeds 1024/);
    expect(() => new IdentityFrameReader().end()).to.throw(/ended before/);
    const partial = new IdentityFrameReader();
    partial.push(frame.subarray(0, 10));
    expect(() => partial.end()).to.throw(IdentityInvalid);
  });

  it('random and mutated messages only ever raise IdentityInvalid', () => {
    const base = hex(v.peer_identity_msg_protobuf);
    const check = (bytes: Uint8Array) => {
      try {
        validateIdentityMessage(bytes, { noiseStatic: hex(v.noise_static), nowSeconds: now });
      } catch (err) {
        if (!(err instanceof IdentityInvalid)) throw err;
        expect(err).to.be.instanceOf(TcommsError);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => check(b)), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const m = Uint8Array.from(base);
        m[at]! ^= x;
        check(m);
      }),
      { numRuns: 300 }, // each one that decodes costs a full key validation (BigInt, a few ms)
    );
    fc.assert(fc.property(fc.nat(base.length), (n) => check(base.subarray(0, n))), { numRuns: 300 });
  });
});

describe('identity message decoding is strict', () => {
  it('refuses a field sent with the wrong wire type (protobuf-es alone would read it)', async () => {
    const { validateIdentityMessage } = await import('../../protocols/identity/index.js');
    // features (field 2, a uint32) sent length-delimited: `12 00`.
    const err = (() => {
      try {
        validateIdentityMessage(Uint8Array.of(0x12, 0x00), { noiseStatic: new Uint8Array(32), nowSeconds: 0n });
      } catch (e) {
        return e as { name: string; reason?: string };
      }
      return undefined;
    })();
    expect(err?.name).to.equal('IdentityInvalid');
    expect(err?.reason).to.equal('protobuf');
  });
});
