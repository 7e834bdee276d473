/** Building, decoding and judging envelopes beyond the vectors: sender rules, routing, strict wire types. */
import { fromBinary } from '@bufbuild/protobuf';
import { expect } from 'chai';
import { concat, toHex } from '../../../core/bytes.js';
import { ConfigError } from '../../../core/errors.js';
import { NodeIdentity } from '../../../core/keys.js';
import { DhtEnvelopeSchema } from '../../../proto/gen/tcomms/dht/dht_pb.js';
import {
  createCleartextEnvelope,
  createHeader,
  decodeEnvelope,
  defaultExpiry,
  DhtDecodeError,
  DhtMessageType,
  dhtReceiver,
  encodeDomainMessage,
  encodeEnvelope,
  judgeEnvelope,
  sealEnvelope,
  shouldForward,
  shouldProcess,
  type DhtJudgement,
} from '../../../protocols/dht/index.js';
import { PROVIDERS } from '../../support/providers.js';

const a = NodeIdentity.fromSeed(new Uint8Array(32).fill(1));
const b = NodeIdentity.fromSeed(new Uint8Array(32).fill(2));
const c = NodeIdentity.fromSeed(new Uint8Array(32).fill(3));
const now = 1_767_225_600n;
const body = encodeDomainMessage({ messageType: 7, nonce: 1n, payload: new TextEncoder().encode('hi') });

for (const provider of PROVIDERS) {
  describe(`DHT envelopes (${provider.name} provider)`, () => {
    const judge = (envelope: Uint8Array, receiver: NodeIdentity, sendingPeer: NodeIdentity, seen: (k: Uint8Array) => boolean = () => false): DhtJudgement =>
      judgeEnvelope(provider, { envelope, receiver: dhtReceiver(receiver, provider), sendingPeer: sendingPeer.publicKey, nowSeconds: now, seen });

    it('routes a signed DOMAIN: processed by its destination, forwarded by others, the same dedup key everywhere', () => {
      const built = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: b.publicKey, expires: defaultExpiry(now, false), body, signer: a });
      const atB = judge(built.envelope, b, c);
      const atC = judge(built.envelope, c, a);
      expect([atB.verdict, atC.verdict]).to.deep.equal(['process', 'forward']);
      expect(shouldProcess(atB) && !shouldForward(atB) && shouldForward(atC) && !shouldProcess(atC)).to.equal(true);
      for (const j of [atB, atC]) {
        expect(toHex(j.dedupKey!)).to.equal(toHex(built.dedupKey));
        if (j.reason === undefined) expect(toHex(j.origin!)).to.equal(toHex(a.publicKey));
      }
      // A key the sender recorded makes its echo a duplicate (9.4).
      expect(judge(built.envelope, b, c, (k) => toHex(k) === toHex(built.dedupKey)).reason).to.equal('duplicate');
    });

    it('seals for a recipient: only it opens the message; others forward it as a store candidate', () => {
      const sealed = sealEnvelope(provider, { recipient: b.publicKey, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(now, true), innerBody: body, origin: a });
      expect(sealed.header.expires).to.equal(now + 259_200n);
      const atB = judge(sealed.envelope, b, c);
      const atC = judge(sealed.envelope, c, a);
      expect([atB.verdict, atB.reason]).to.deep.equal(['process', undefined]);
      if (atB.reason === undefined) {
        expect([atB.decrypted, toHex(atB.origin!), atB.payload?.kind]).to.deep.equal([true, toHex(a.publicKey), 'domain']);
      }
      expect([atC.verdict, atC.reason === undefined && atC.storeCandidate, atC.reason === undefined && atC.payload]).to.deep.equal(['forward', true, undefined]);
      // Two seals of the same message differ (fresh ephemeral keys), so each has its own dedup key.
      const again = sealEnvelope(provider, { recipient: b.publicKey, messageType: DhtMessageType.DOMAIN, expires: sealed.header.expires, innerBody: body, origin: a });
      expect(toHex(again.dedupKey)).to.not.equal(toHex(sealed.dedupKey));
    });

    it('refuses to build envelopes that break a sender rule of 9.1 or 9.5', () => {
      const expires = defaultExpiry(now, false);
      const bad = [
        () => createCleartextEnvelope(provider, { messageType: DhtMessageType.DISCOVERY, destination: b.publicKey, expires, body, signer: a }),
        () => createCleartextEnvelope(provider, { messageType: DhtMessageType.JOIN, destination: a.publicKey, expires, body }),
        () => createCleartextEnvelope(provider, { messageType: DhtMessageType.JOIN, destination: b.publicKey, expires, body, signer: a }),
        () => createCleartextEnvelope(provider, { messageType: DhtMessageType.DISCOVERY_RESPONSE, destination: b.publicKey, expires, body }),
        () => createCleartextEnvelope(provider, { messageType: DhtMessageType.SAF_REQUEST_MESSAGES, expires, body }),
        () => createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: new Uint8Array(31), expires, body }),
        () => createCleartextEnvelope(provider, { messageType: 7 as DhtMessageType, expires, body }),
        () => createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, expires: -1n, body }),
        () => sealEnvelope(provider, { recipient: b.publicKey, messageType: DhtMessageType.JOIN, expires, innerBody: body }),
        () => sealEnvelope(provider, { recipient: b.publicKey, messageType: DhtMessageType.DISCOVERY, expires, innerBody: body }),
        () => sealEnvelope(provider, { recipient: new Uint8Array(32), messageType: DhtMessageType.DOMAIN, expires, innerBody: body }),
      ];
      for (const [i, build] of bad.entries()) expect(build, `case ${i}`).to.throw(ConfigError);
    });

    it('a throwing dedup lookup gives an `internal` drop, not a throw and not a violation', () => {
      const built = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, expires: now, body });
      const j = judge(built.envelope, b, c, () => {
        throw new Error('cache down');
      });
      expect([j.verdict, j.reason]).to.deep.equal(['drop', 'internal']);
    });
  });
}

describe('DHT envelope decoding', () => {
  const header = createHeader({ messageType: DhtMessageType.DOMAIN, expires: now });

  it('encodes canonically: the header always present, an empty body omitted', () => {
    expect(toHex(encodeEnvelope(createHeader({ messageType: DhtMessageType.DOMAIN, expires: 0n }), new Uint8Array(0)))).to.equal('0a020801');
    const big = new Uint8Array(300).fill(9);
    const bytes = encodeEnvelope(header, big);
    const back = decodeEnvelope(bytes);
    expect([back.header.expires, back.body.length]).to.deep.equal([now, 300]);
  });

  it('checks wire types where protobuf-es alone would read a field of the wrong wire type', () => {
    // DhtHeader field 1 (version, a varint) sent length-delimited and empty: `0a00`.
    const lax = concat([Uint8Array.of(0x0a, 0x02, 0x0a, 0x00)]);
    expect(fromBinary(DhtEnvelopeSchema, lax).header?.version).to.equal(0);
    expect(() => decodeEnvelope(lax)).to.throw(DhtDecodeError);
    const j = judgeEnvelope(PROVIDERS[0]!, { envelope: lax, receiver: dhtReceiver(b, PROVIDERS[0]!), sendingPeer: c.publicKey, nowSeconds: now, seen: () => false });
    expect([j.verdict, j.reason]).to.deep.equal(['violation', 'undecodable']);
  });

  it('ignores unknown fields of every wire type, groups included, and accepts fields in any order', () => {
    const canonical = encodeEnvelope(header, body);
    const unknown = Uint8Array.of(0xf8, 0x06, 0x05, 0x9a, 0x06, 0x01, 0xff, 0x9d, 0x06, 1, 2, 3, 4, 0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06);
    const got = decodeEnvelope(concat([unknown, canonical]));
    expect([got.header.expires, toHex(got.body)]).to.deep.equal([now, toHex(body)]);
  });

  it('names the message that failed and keeps the cause', () => {
    try {
      decodeEnvelope(Uint8Array.of(0x12, 0x03, 0x61, 0x62, 0x63));
      expect.fail('decoded an envelope without a header');
    } catch (err) {
      expect(err).to.be.instanceOf(DhtDecodeError);
      expect([(err as DhtDecodeError).kind, (err as DhtDecodeError).messageName]).to.deep.equal(['protocol', 'DhtEnvelope']);
    }
  });
});
