/** The bodies of 9.5 and 9.7: claims, discovery, store-and-forward, each judged end to end. */
import { expect } from 'chai';
import { addressToBytes, parseAddress } from '../../../core/address.js';
import { toHex } from '../../../core/bytes.js';
import { NodeIdentity } from '../../../core/keys.js';
import {
  checkPeerClaim,
  createCleartextEnvelope,
  createPeerClaim,
  decodePeerClaim,
  decodeSafRequest,
  decodeSafStoredMessages,
  defaultExpiry,
  DhtDecodeError,
  DhtMessageType,
  dhtReceiver,
  encodeDiscoveryMessage,
  encodeDomainMessage,
  encodePeerClaim,
  encodeSafRequest,
  encodeSafStoredMessages,
  judgeEnvelope,
  sealEnvelope,
  type ClaimContent,
  type DhtJudgement,
} from '../../../protocols/dht/index.js';
import { PROVIDERS } from '../../support/providers.js';

const a = NodeIdentity.fromSeed(new Uint8Array(32).fill(1));
const b = NodeIdentity.fromSeed(new Uint8Array(32).fill(2));
const c = NodeIdentity.fromSeed(new Uint8Array(32).fill(3));
const now = 1_767_225_600n;
const tcp = addressToBytes(parseAddress('/ip4/10.0.0.1/tcp/18141'));
const memory = addressToBytes(parseAddress('/memory/7', { allowMemory: true }));
const content = (addresses: Uint8Array[], updatedAt = now - 60n): ClaimContent => ({ addresses, features: 1, userAgent: 'spec/1', updatedAt });

describe('DHT claims (9.5)', () => {
  it('a signed claim round-trips and validates; each broken rule names its section-5 reason', () => {
    const claim = createPeerClaim(a, content([tcp]));
    const back = decodePeerClaim(encodePeerClaim(claim));
    const ok = checkPeerClaim(back, { nowSeconds: now });
    expect(ok.ok && [toHex(ok.claim.publicKey), ok.claim.parsedAddresses[0]?.kind, ok.ignored]).to.deep.equal([toHex(a.publicKey), 'ip4', false]);
    const reasons = [
      { ...back, publicKey: new Uint8Array(0) },
      { ...back, publicKey: new Uint8Array(31) },
      { ...back, publicKey: new Uint8Array(32) },
      { ...back, features: 3 },
      { ...back, signature: undefined },
      { ...back, userAgent: 'x'.repeat(51) },
      createPeerClaim(a, content([tcp], now + 86_401n)),
      createPeerClaim(a, content(Array.from({ length: 6 }, () => tcp))),
    ].map((bad) => {
      const r = checkPeerClaim(bad, { nowSeconds: now });
      return r.ok ? 'ok' : r.reason;
    });
    expect(reasons).to.deep.equal(['no_public_key', 'public_key_length', 'public_key_invalid', 'signature', 'no_signature', 'user_agent', 'updated_at', 'address_count']);
    expect(checkPeerClaim(createPeerClaim(a, content([tcp], now + 86_400n)), { nowSeconds: now }).ok).to.equal(true);
  });

  it('a valid claim naming /memory is ignored (not invalid) without test addresses, and kept with them', () => {
    const claim = createPeerClaim(a, content([tcp, memory]));
    const without = checkPeerClaim(claim, { nowSeconds: now });
    const withMemory = checkPeerClaim(claim, { nowSeconds: now, allowMemory: true });
    expect([without.ok && without.ignored, withMemory.ok && withMemory.ignored]).to.deep.equal([true, false]);
    // /memory/0 is not a valid address anywhere: invalid, not ignored.
    const zero = Uint8Array.from(memory);
    zero.fill(0, 2);
    const bad = checkPeerClaim(createPeerClaim(a, content([zero])), { nowSeconds: now });
    expect(bad.ok ? 'ok' : bad.reason).to.equal('address');
  });
});

for (const provider of PROVIDERS) {
  describe(`DHT message types end to end (${provider.name} provider)`, () => {
    const judge = (envelope: Uint8Array, receiver: NodeIdentity, sendingPeer: NodeIdentity, allowMemory = false): DhtJudgement =>
      judgeEnvelope(provider, { envelope, receiver: dhtReceiver(receiver, provider), sendingPeer: sendingPeer.publicKey, nowSeconds: now, seen: () => false, allowMemory });
    const cleartext = defaultExpiry(now, false);

    it('JOIN: processed and forwarded by others with the claim; a /memory claim is ignored unless test addresses are on', () => {
      for (const [addresses, allowMemory, ignored] of [[[tcp], false, false], [[memory], false, true], [[memory], true, false]] as const) {
        const join = createCleartextEnvelope(provider, { messageType: DhtMessageType.JOIN, destination: a.publicKey, expires: cleartext, body: encodePeerClaim(createPeerClaim(a, content([...addresses]))), signer: a });
        const j = judge(join.envelope, b, a, allowMemory);
        expect([j.verdict, j.reason === undefined && j.claimIgnored, j.reason === undefined && j.payload?.kind]).to.deep.equal(['process+forward', ignored, 'join']);
      }
    });

    it('DISCOVERY and DISCOVERY_RESPONSE: the target opens the request with the origin claim; the answer must come from its signer', () => {
      const nonce = 0x1234n;
      const request = sealEnvelope(provider, {
        recipient: b.publicKey,
        messageType: DhtMessageType.DISCOVERY,
        expires: defaultExpiry(now, true),
        innerBody: encodeDiscoveryMessage({ claim: createPeerClaim(a, content([tcp])), nonce }),
        origin: a,
      });
      const atB = judge(request.envelope, b, c);
      expect(atB.reason === undefined && atB.payload?.kind === 'discovery' && [toHex(atB.payload.claim.publicKey), atB.payload.nonce]).to.deep.equal([toHex(a.publicKey), nonce]);
      // A forwarder sees an ENCRYPTED DISCOVERY for another: forward, not a store candidate (only DOMAIN is stored).
      const atC = judge(request.envelope, c, a);
      expect([atC.verdict, atC.reason === undefined && atC.storeCandidate]).to.deep.equal(['forward', false]);
      const response = createCleartextEnvelope(provider, {
        messageType: DhtMessageType.DISCOVERY_RESPONSE,
        destination: a.publicKey,
        expires: cleartext,
        body: encodeDiscoveryMessage({ claim: createPeerClaim(b, content([tcp])), nonce }),
        signer: b,
      });
      const atA = judge(response.envelope, a, b);
      expect(atA.reason === undefined && atA.payload?.kind === 'discovery_response' && atA.payload.nonce).to.equal(nonce);
      expect(judge(response.envelope, a, c).reason).to.equal('response_not_signed_by_sending_peer');
    });

    it('SAF: a request decodes; a response carries envelopes as sent, each judged on its own as if the server sent it', () => {
      const request = createCleartextEnvelope(provider, { messageType: DhtMessageType.SAF_REQUEST_MESSAGES, destination: c.publicKey, expires: cleartext, body: encodeSafRequest({ since: 5n, limit: 50 }) });
      const asked = judge(request.envelope, c, b);
      expect(asked.reason === undefined && asked.payload?.kind === 'saf_request' && [asked.payload.request.since, asked.payload.request.limit]).to.deep.equal([5n, 50]);
      const stored = [1, 2].map((i) =>
        sealEnvelope(provider, { recipient: b.publicKey, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(now, true), innerBody: encodeDomainMessage({ messageType: i, nonce: BigInt(i), payload: new Uint8Array(0) }) }),
      );
      const response = createCleartextEnvelope(provider, {
        messageType: DhtMessageType.SAF_STORED_MESSAGES,
        destination: b.publicKey,
        expires: cleartext,
        body: encodeSafStoredMessages(stored.map((s, i) => ({ storedAt: now - BigInt(i), envelope: s.envelope }))),
        signer: c,
      });
      const got = judge(response.envelope, b, c);
      expect(got.reason === undefined && got.payload?.kind).to.equal('saf_stored');
      if (got.reason !== undefined || got.payload?.kind !== 'saf_stored') return;
      expect(got.payload.messages.map((m) => [m.storedAt, toHex(m.envelope)])).to.deep.equal(stored.map((s, i) => [now - BigInt(i), toHex(s.envelope)]));
      const fromStore = (envelope: Uint8Array) =>
        judgeEnvelope(provider, { envelope, receiver: dhtReceiver(b, provider), sendingPeer: c.publicKey, nowSeconds: now, seen: () => false, fromStore: true });
      for (const m of got.payload.messages) {
        const j = fromStore(m.envelope);
        expect([j.verdict, j.reason === undefined && j.decrypted]).to.deep.equal(['process', true]);
      }
      // Anything else in a SAF response, once it passes 9.1, is the server's violation; an expired one is only dropped.
      const forC = sealEnvelope(provider, { recipient: a.publicKey, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(now, true), innerBody: encodeDomainMessage({ messageType: 1, nonce: 1n, payload: new Uint8Array(0) }) });
      const clear = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: b.publicKey, expires: cleartext, body: encodeDomainMessage({ messageType: 1, nonce: 1n, payload: new Uint8Array(0) }) });
      const expired = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: b.publicKey, expires: now - 1n, body: new Uint8Array(0) });
      expect([forC, clear, expired].map((e) => fromStore(e.envelope).reason)).to.deep.equal(['stored_not_sealed_domain_for_receiver', 'stored_not_sealed_domain_for_receiver', 'expired']);
    });
  });
}

describe('DHT SAF codec (9.7)', () => {
  it('keeps a stored envelope as received, merges a repeated envelope field, and refuses a malformed response', () => {
    expect(decodeSafRequest(new Uint8Array(0))).to.include({ since: 0n, limit: 0 });
    // envelope `0a00` (an empty header), stored_at 5, then envelope `1200` (an explicit empty body).
    const odd = Uint8Array.of(0x0a, 0x0a, 0x12, 0x02, 0x0a, 0x00, 0x08, 0x05, 0x12, 0x02, 0x12, 0x00);
    expect(decodeSafStoredMessages(odd).map((m) => [m.storedAt, toHex(m.envelope)])).to.deep.equal([[5n, '0a001200']]);
    // Nested envelopes are checked for structure too.
    expect(() => decodeSafStoredMessages(Uint8Array.of(0x0a, 0x04, 0x12, 0x02, 0xaa, 0xbb))).to.throw(DhtDecodeError);
    expect(() => decodeSafStoredMessages(Uint8Array.of(0x0a, 0x02, 0x10, 0x01))).to.throw(DhtDecodeError); // envelope sent as a varint
    expect(() => decodeSafStoredMessages(Uint8Array.of(0x0a, 0x05, 0x12))).to.throw(DhtDecodeError);
  });
});
