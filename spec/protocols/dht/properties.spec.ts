/**
 * Properties of the DHT core: the two crypto providers give the same bytes and verdicts; any
 * input, random or a mutated valid envelope, gets a typed verdict (never a throw, never
 * `internal`); sealed messages of any size round-trip across the 6,000-byte padding blocks.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { LowOrderPoint, type CryptoProvider } from '../../../core/crypto/provider.js';
import { toHex } from '../../../core/bytes.js';
import { NodeIdentity } from '../../../core/keys.js';
import {
  bindingHash,
  decodeEnvelope,
  DhtMessageType,
  DROP_REASONS,
  dhtReceiver,
  encodeDomainMessage,
  judgeEnvelope,
  OPEN_FAILURE_REASONS,
  openSealedBody,
  SEAL_PADDING_BLOCK,
  sealedMessageLength,
  sealedPlaintextLength,
  sealEnvelope,
  VIOLATION_REASONS,
  type DhtJudgement,
} from '../../../protocols/dht/index.js';
import { nativeProvider, stablelibProvider } from '../../../core/crypto/index.js';
import { PROVIDERS } from '../../support/providers.js';
import { hex, loadVectors } from '../../support/vectors.js';

const v = loadVectors<any>('tcomms-dht.json');
const keys = loadVectors<any>('tcomms-keys.json').keys as Array<{ ed25519_public: string; ed25519_seed: string }>;
const identityOf = (publicHex: string) => NodeIdentity.fromSeed(hex(keys.find((k) => k.ed25519_public === publicHex)!.ed25519_seed));
const keyB = identityOf(v.keys['key-b']);
const keyC = identityOf(v.keys['key-c']);
const now = BigInt(v.receiver_clock);
const REASONS = new Set<string>([...VIOLATION_REASONS, ...DROP_REASONS, ...OPEN_FAILURE_REASONS]);
const VALID = (v.valid_envelopes as Array<{ envelope: string }>).map((e) => hex(e.envelope));

function judgeWith(provider: CryptoProvider, envelope: Uint8Array, seen = () => false): DhtJudgement {
  return judgeEnvelope(provider, { envelope, receiver: dhtReceiver(keyB, provider), sendingPeer: keyC.publicKey, nowSeconds: now, seen });
}

/** The verdict as plain data, to compare providers. */
function summary(j: DhtJudgement) {
  return { verdict: j.verdict, reason: j.reason, record: j.recordDedupKey, key: j.dedupKey === undefined ? undefined : toHex(j.dedupKey) };
}

function expectTyped(j: DhtJudgement, what: string): void {
  if (j.reason === undefined) expect(['process', 'forward', 'process+forward'], what).to.include(j.verdict);
  else {
    expect(j.reason, `${what}: ${'detail' in j ? j.detail : ''}`).to.not.equal('internal');
    expect(REASONS.has(j.reason), what).to.equal(true);
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = m.at % bytes.length;
  const out = Uint8Array.from(bytes);
  switch (m.kind) {
    case 'flip':
      out[at]! ^= 1 << m.bit;
      return out;
    case 'truncate':
      return out.subarray(0, at);
    case 'insert':
      return Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
    default:
      out[at] = m.value;
      return out;
  }
}

describe('DHT core properties', function () {
  this.timeout(60_000);

  it('random bytes only ever get a typed verdict (never a throw), the same with both providers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const [a, b] = PROVIDERS.map((p) => judgeWith(p, bytes));
        expectTyped(a!, toHex(bytes));
        expect(summary(a!)).to.deep.equal(summary(b!));
      }),
      { numRuns: 500 },
    );
  });

  it('mutated valid envelopes only ever get a typed verdict, the same with both providers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: VALID.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), (i, mutations) => {
        let bytes = VALID[i]!;
        for (const m of mutations) if (bytes.length > 0) bytes = mutate(bytes, m);
        const [a, b] = PROVIDERS.map((p) => judgeWith(p, bytes));
        expectTyped(a!, `valid_envelopes[${i}] mutated`);
        expect(summary(a!)).to.deep.equal(summary(b!));
      }),
      { numRuns: 150 },
    );
  });

  it('binding(body) is the same with both providers for random fields and bodies', () => {
    fc.assert(
      fc.property(
        fc.record({
          version: fc.nat(),
          destination: fc.uint8Array({ maxLength: 40 }),
          messageType: fc.nat(),
          flags: fc.nat(),
          expires: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          ephemeralPublicKey: fc.uint8Array({ maxLength: 40 }),
        }),
        fc.uint8Array({ maxLength: 13_000 }),
        (fields, body) => {
          expect(toHex(bindingHash(stablelibProvider, fields, body))).to.equal(toHex(bindingHash(nativeProvider, fields, body)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('X25519 with any ephemeral key, small-order and non-canonical ones included, agrees across providers', () => {
    const p = 2n ** 255n - 19n;
    const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
    const special = [0n, 1n, p - 1n, p, p + 1n, 2n ** 255n - 1n, 325606250916557431795983626356110631294008115727848805560023387167927233504n, 39382357235489614581723060781553021112529911719440698176882885853963445705823n].map(le);
    const outcome = (provider: CryptoProvider, e: Uint8Array) => {
      try {
        return toHex(provider.x25519DH(dhtReceiver(keyB, provider).x25519, e));
      } catch (err) {
        expect(err).to.be.instanceOf(LowOrderPoint);
        return 'zero';
      }
    };
    for (const e of special) expect(outcome(stablelibProvider, e), toHex(e)).to.equal(outcome(nativeProvider, e));
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (e) => {
        expect(outcome(stablelibProvider, e)).to.equal(outcome(nativeProvider, e));
      }), { numRuns: 30 });
  });

  const block = SEAL_PADDING_BLOCK;
  /** Payload sizes that put 4 + n just below, at and just above one, two and three blocks. */
  const boundary = fc.oneof(
    fc.integer({ min: 0, max: 3 * block + 100 }),
    fc.constantFrom(...[1, 2, 3].flatMap((k) => [-2, -1, 0, 1, 2].map((d) => k * block + d))),
  );

  for (const provider of PROVIDERS) {
    it(`seals and opens payloads of any size across the padding blocks (${provider.name})`, () => {
      const receiver = dhtReceiver(keyB, provider);
      const origin = identityOf(v.keys['key-a']);
      fc.assert(
        fc.property(boundary, fc.boolean(), fc.uint8Array({ minLength: 32, maxLength: 32 }), (target, signed, secret) => {
          // A DomainMessage whose 4 + n lands near `target`.
          const overhead = signed ? 4 + 34 + 66 + 20 : 4 + 20;
          const payload = new Uint8Array(Math.max(0, target - overhead)).fill(7);
          const innerBody = encodeDomainMessage({ messageType: 3, nonce: 99n, payload });
          const sealed = sealEnvelope(provider, {
            recipient: keyB.publicKey,
            messageType: DhtMessageType.DOMAIN,
            expires: now + 100n,
            innerBody,
            ephemeralSecret: secret,
            ...(signed ? { origin } : {}),
          });
          const n = sealedMessageLength({ innerBody, ...(signed ? { originPublicKey: origin.publicKey, originSignature: new Uint8Array(64) } : {}) });
          expect(sealed.body.length).to.equal(sealedPlaintextLength(n) + 16);
          expect(sealedPlaintextLength(n) % block).to.equal(0);
          expect(sealedPlaintextLength(n) - (4 + n)).to.be.within(0, block - 1);
          const got = decodeEnvelope(sealed.envelope);
          const opened = openSealedBody(provider, receiver, got.header, got.body);
          expect(opened.ok).to.equal(true);
          if (opened.ok) expect(toHex(opened.innerBody)).to.equal(toHex(innerBody));
          const j = judgeEnvelope(provider, { envelope: sealed.envelope, receiver, sendingPeer: keyC.publicKey, nowSeconds: now, seen: () => false });
          expect([j.verdict, j.reason, 'decrypted' in j && j.decrypted]).to.deep.equal(['process', undefined, true]);
          // The other provider makes the same bytes from the same ephemeral secret, and opens them.
          const other = provider === nativeProvider ? stablelibProvider : nativeProvider;
          const again = sealEnvelope(other, { recipient: keyB.publicKey, messageType: DhtMessageType.DOMAIN, expires: now + 100n, innerBody, ephemeralSecret: secret, ...(signed ? { origin } : {}) });
          expect(toHex(again.envelope)).to.equal(toHex(sealed.envelope));
        }),
        { numRuns: provider === stablelibProvider ? 25 : 60 },
      );
    });
  }
});
