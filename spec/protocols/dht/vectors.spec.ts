/** Every known answer of `tcomms-dht.json` (PROTOCOL.md section 9), with each crypto provider. */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { expect } from 'chai';
import { concat } from '../../../core/bytes.js';
import { NodeIdentity, x25519PublicOf, type PublicKey } from '../../../core/keys.js';
import { DhtHeaderSchema, SealedMessageSchema } from '../../../proto/gen/tcomms/dht/dht_pb.js';
import { lengthPrefixed } from '../../../protocols/identity/signature.js';
import {
  bindingHash,
  bindingItems,
  createCleartextEnvelope,
  decodeEnvelope,
  dedupKey,
  dhtReceiver,
  encodeSealedMessage,
  judgeEnvelope,
  openSealedBody,
  sealedMessageLength,
  sealedPlaintext,
  sealEnvelope,
  sealKey,
  sealKeyItems,
  SEAL_NONCE,
  DROP_REASONS,
  OPEN_FAILURE_REASONS,
  VIOLATION_REASONS,
  type DhtJudgement,
  type DhtMessageType,
} from '../../../protocols/dht/index.js';
import { PROVIDERS } from '../../support/providers.js';
import { hex, loadVectors, toHexString } from '../../support/vectors.js';

interface HeaderJson {
  version: number;
  destination: string;
  message_type: number;
  flags: number;
  expires: number;
  ephemeral_public_key: string;
  signature: { signer_public_key: string; signature: string } | null;
  message_tag: string;
}
interface Judged {
  name: string;
  envelope: string;
  receiver: string;
  sending_peer: string;
  receiver_clock: number;
  seen_dedup_keys: string[];
  allow_test_addresses: boolean;
  expected_verdict: string;
  reason: string;
  record_dedup_key?: boolean;
  dedup_key?: string;
  decrypted?: boolean;
  origin?: string | null;
  store_candidate?: boolean;
  domain_message?: { message_type: number; nonce: string; payload: string };
  claim_ignored?: boolean;
  claim_public_key?: string;
  discovery_nonce?: string;
}
const v = loadVectors<any>('tcomms-dht.json');
const keys = loadVectors<any>('tcomms-keys.json').keys as Array<{ ed25519_public: string; ed25519_seed: string }>;
const identityOf = (publicHex: string) => NodeIdentity.fromSeed(hex(keys.find((k) => k.ed25519_public === publicHex)!.ed25519_seed));
const headerFields = (h: HeaderJson) => ({
  version: h.version,
  destination: hex(h.destination),
  messageType: h.message_type,
  flags: h.flags,
  expires: BigInt(h.expires),
  ephemeralPublicKey: hex(h.ephemeral_public_key),
});

for (const provider of PROVIDERS) {
  describe(`DHT known answers (tcomms-dht.json), ${provider.name} provider`, () => {
    it(`binds headers and bodies (${v.bindings.length} bindings: items, preimage, binding)`, () => {
      for (const b of v.bindings) {
        const items = bindingItems(headerFields(b.header), hex(b.body));
        expect(items.map(toHexString), b.what).to.deep.equal(b.result.items.map((i: any) => i.bytes));
        const prefixed = lengthPrefixed(items);
        expect(prefixed.filter((_, i) => i % 2 === 0).map(toHexString)).to.deep.equal(b.result.items.map((i: any) => i.length_prefix_u64le));
        expect(toHexString(concat(prefixed))).to.equal(b.result.preimage);
        expect(toHexString(bindingHash(provider, headerFields(b.header), hex(b.body)))).to.equal(b.result.binding);
      }
    });

    it(`builds every cleartext envelope byte for byte (${v.cleartext.length}: header, signature, envelope, binding, dedup key)`, () => {
      for (const c of v.cleartext) {
        const h: HeaderJson = c.header;
        const built = createCleartextEnvelope(provider, {
          messageType: h.message_type as DhtMessageType,
          destination: hex(h.destination),
          expires: BigInt(h.expires),
          body: hex(c.body),
          messageTag: BigInt(h.message_tag),
          // The signer of the header (`signed_by` is not repeated on the copy with another tag).
          ...(h.signature === null ? {} : { signer: identityOf(h.signature.signer_public_key) }),
        });
        if (c.signed_by !== undefined) expect(c.signed_by).to.equal(h.signature?.signer_public_key);
        expect(toHexString(built.binding), c.name).to.equal(c.binding);
        expect(built.header.signature === undefined, c.name).to.equal(h.signature === null);
        if (h.signature !== null) expect(toHexString(built.header.signature!.signature), c.name).to.equal(h.signature.signature);
        expect(toHexString(toBinary(DhtHeaderSchema, built.header)), c.name).to.equal(c.header_protobuf);
        expect(toHexString(built.envelope), c.name).to.equal(c.envelope);
        expect(toHexString(built.dedupKey), c.name).to.equal(c.dedup_key);
        // And from the received bytes.
        const got = decodeEnvelope(hex(c.envelope));
        const binding = bindingHash(provider, got.header, got.body);
        expect(toHexString(binding), c.name).to.equal(c.binding);
        expect(toHexString(dedupKey(provider, binding, got.header.signature)), c.name).to.equal(c.dedup_key);
      }
    });

    it(`seals and opens every sealed message with every intermediate value (${v.sealed.length})`, () => {
      const recipient = identityOf(v.keys['key-b']);
      const receiver = dhtReceiver(recipient, provider);
      for (const s of v.sealed) {
        const ephemeral = provider.x25519FromSecret(hex(s.ephemeral_private));
        expect(toHexString(ephemeral.publicKey), s.name).to.equal(s.ephemeral_public);
        const recipientX25519 = x25519PublicOf(hex(s.recipient) as PublicKey);
        expect(toHexString(recipientX25519)).to.equal(s.recipient_x25519);
        const ss = provider.x25519DH(ephemeral, recipientX25519);
        expect(toHexString(ss), s.name).to.equal(s.shared_secret);
        expect(sealKeyItems(ss, ephemeral.publicKey, recipientX25519).map(toHexString)).to.deep.equal(s.key_items);
        const key = sealKey(provider, ss, ephemeral.publicKey, recipientX25519);
        expect(toHexString(key), s.name).to.equal(s.key);
        const header = headerFields(s.header);
        expect(toHexString(bindingHash(provider, header, hex(s.inner_body))), s.name).to.equal(s.binding_inner_body);
        const fields = { innerBody: hex(s.inner_body), ...(s.origin_public_key === null ? {} : { originPublicKey: hex(s.origin_public_key), originSignature: hex(s.origin_signature) }) };
        expect(sealedMessageLength(fields), s.name).to.equal(s.n);
        expect(toHexString(encodeSealedMessage(fields)), s.name).to.equal(s.sealed_message);
        expect(toHexString(toBinary(SealedMessageSchema, fromBinary(SealedMessageSchema, hex(s.sealed_message))))).to.equal(s.sealed_message);
        const plaintext = sealedPlaintext(fields);
        expect([plaintext.length, plaintext.length - 4 - s.n], s.name).to.deep.equal([s.plaintext_length, s.padding_length]);
        expect(toHexString(plaintext), s.name).to.equal(s.plaintext);
        const aad = bindingHash(provider, header);
        expect(toHexString(aad), s.name).to.equal(s.aad_binding_empty);
        expect(toHexString(SEAL_NONCE)).to.equal(s.nonce);
        expect(toHexString(provider.aeadSeal(key, SEAL_NONCE, aad, plaintext)), s.name).to.equal(s.body);

        const sealed = sealEnvelope(provider, {
          recipient: recipient.publicKey,
          messageType: s.header.message_type,
          expires: BigInt(s.header.expires),
          innerBody: hex(s.inner_body),
          messageTag: BigInt(s.header.message_tag),
          ephemeralSecret: hex(s.ephemeral_private),
          ...(s.origin_public_key === null ? {} : { origin: identityOf(s.origin_public_key) }),
        });
        expect(sealed.body.length, s.name).to.equal(s.body_length);
        expect(toHexString(sealed.body), s.name).to.equal(s.body);
        expect(toHexString(toBinary(DhtHeaderSchema, sealed.header)), s.name).to.equal(s.header_protobuf);
        expect(toHexString(sealed.envelope), s.name).to.equal(s.envelope);
        expect(toHexString(sealed.dedupKey), s.name).to.equal(s.dedup_key);

        const got = decodeEnvelope(hex(s.envelope));
        const opened = openSealedBody(provider, receiver, got.header, got.body);
        expect(opened.ok, s.name).to.equal(true);
        if (!opened.ok) continue;
        expect(toHexString(opened.innerBody), s.name).to.equal(s.inner_body);
        expect(opened.origin === undefined ? null : toHexString(opened.origin), s.name).to.equal(s.origin_public_key);
      }
    });

    const receivers = new Map<string, ReturnType<typeof dhtReceiver>>();
    const judgeVector = (e: Judged): DhtJudgement => {
      if (!receivers.has(e.receiver)) receivers.set(e.receiver, dhtReceiver(identityOf(e.receiver), provider));
      const seen = new Set(e.seen_dedup_keys);
      return judgeEnvelope(provider, {
        envelope: hex(e.envelope),
        receiver: receivers.get(e.receiver)!,
        sendingPeer: hex(e.sending_peer),
        nowSeconds: BigInt(e.receiver_clock),
        seen: (k) => seen.has(toHexString(k)),
        allowMemory: e.allow_test_addresses,
      });
    };

    it(`judges the ${v.valid_envelopes.length} valid envelopes as the file says (verdict, dedup key, origin, decryption, store candidate, body, claim)`, () => {
      for (const e of v.valid_envelopes as Judged[]) {
        const j = judgeVector(e);
        expect([j.verdict, j.reason ?? ''], `${e.name}: ${'detail' in j ? j.detail : ''}`).to.deep.equal([e.expected_verdict, e.reason]);
        expect(j.recordDedupKey, e.name).to.equal(e.record_dedup_key);
        expect(toHexString(j.dedupKey!), e.name).to.equal(e.dedup_key);
        if (j.reason !== undefined) continue;
        expect(j.decrypted, e.name).to.equal(e.decrypted);
        expect(j.origin === undefined ? null : toHexString(j.origin), e.name).to.equal(e.origin);
        expect(j.storeCandidate, e.name).to.equal(e.store_candidate);
        expect(j.claimIgnored, e.name).to.equal(e.claim_ignored ?? false);
        const p = j.payload;
        if (e.domain_message !== undefined) {
          expect(p?.kind, e.name).to.equal('domain');
          if (p?.kind !== 'domain') continue;
          expect([p.message.messageType, p.message.nonce.toString(), toHexString(p.message.payload)], e.name).to.deep.equal([
            e.domain_message.message_type,
            e.domain_message.nonce,
            e.domain_message.payload,
          ]);
        }
        if (e.claim_public_key !== undefined) {
          expect(p !== undefined && 'claim' in p ? toHexString(p.claim.publicKey) : undefined, e.name).to.equal(e.claim_public_key);
        }
        if (e.discovery_nonce !== undefined) expect(p !== undefined && 'nonce' in p ? p.nonce.toString() : undefined, e.name).to.equal(e.discovery_nonce);
        if (e.name === 'saf-request') expect(p?.kind).to.equal('saf_request');
        if (e.name === 'sealed-for-another') expect(p).to.equal(undefined);
      }
    });

    it(`judges the ${v.invalid_envelopes.length} invalid envelopes as the file says (verdict, first failed check, dedup key recorded or not)`, () => {
      for (const e of v.invalid_envelopes as Judged[]) {
        const j = judgeVector(e);
        expect([j.verdict, j.reason], `${e.name}: ${'detail' in j ? j.detail : ''}`).to.deep.equal([e.expected_verdict, e.reason]);
        expect(j.recordDedupKey, e.name).to.equal(e.record_dedup_key ?? false);
        expect(j.dedupKey === undefined ? undefined : toHexString(j.dedupKey), e.name).to.equal(e.dedup_key);
      }
    });
  });
}

describe('DHT reason names', () => {
  it('every reason of the vector file is one of the typed reasons, under its verdict', () => {
    const byVerdict: Record<string, readonly string[]> = { violation: VIOLATION_REASONS, drop: [...DROP_REASONS, ...OPEN_FAILURE_REASONS] };
    for (const e of v.invalid_envelopes as Judged[]) expect(byVerdict[e.expected_verdict], e.name).to.include(e.reason);
    const named = new Set((v.invalid_envelopes as Judged[]).map((e) => e.reason));
    // Every typed reason is exercised by the file, but `internal` (no rule) and 9.7's SAF check.
    const notInFile = ['stored_not_sealed_domain_for_receiver'];
    for (const r of [...VIOLATION_REASONS, ...DROP_REASONS, ...OPEN_FAILURE_REASONS]) expect(named.has(r), r).to.equal(!notInFile.includes(r));
  });
});
