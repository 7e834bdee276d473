/**
 * `protocols/dht`: `judgeEnvelope` on the vectors' valid and invalid envelopes (each with its
 * receiver, sending peer, clock and dedup cache), mutated, and on random bytes; and the decoders
 * of every DHT message (with the claim check on decoded claims).
 */
import { fromHex, toHex } from '../../core/bytes.js';
import { nativeProvider } from '../../core/crypto/index.js';
import { NodeIdentity } from '../../core/keys.js';
import {
  checkPeerClaim,
  decodeDiscoveryMessage,
  decodeDomainMessage,
  decodeEnvelope,
  decodePeerClaim,
  decodeSafRequest,
  decodeSafStoredMessages,
  DhtDecodeError,
  dhtReceiver,
  DROP_REASONS,
  encodeDomainMessage,
  encodeSafRequest,
  encodeSafStoredMessages,
  judgeEnvelope,
  OPEN_FAILURE_REASONS,
  VIOLATION_REASONS,
  type DhtReceiver,
} from '../../protocols/dht/index.js';
import { oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, unchangedSeed, type Seed } from '../mutate.js';
import { loadVectors } from '../vectors.js';

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
  domain_message?: { message_type: number; nonce: string; payload: string };
}
const v = loadVectors<{ valid_envelopes: Judged[]; invalid_envelopes: Judged[]; cleartext: Array<{ body: string; name: string }>; sealed: Array<{ inner_body: string; name: string }> }>('tcomms-dht.json');
const keys = loadVectors<{ keys: Array<{ ed25519_public: string; ed25519_seed: string }> }>('tcomms-keys.json').keys;

const receivers = new Map<string, DhtReceiver>();
function receiverOf(publicHex: string): DhtReceiver {
  let r = receivers.get(publicHex);
  if (r === undefined) {
    r = dhtReceiver(NodeIdentity.fromSeed(fromHex(keys.find((k) => k.ed25519_public === publicHex)!.ed25519_seed)), nativeProvider);
    receivers.set(publicHex, r);
  }
  return r;
}

interface JudgedSeed extends Seed {
  entry: Judged;
}
const JUDGED: JudgedSeed[] = [...v.valid_envelopes, ...v.invalid_envelopes].map((entry) => ({ name: entry.name, bytes: fromHex(entry.envelope), entry }));
const REASONS = new Set<string>([...VIOLATION_REASONS, ...DROP_REASONS, ...OPEN_FAILURE_REASONS]);

/** The DHT judgement target. */
export const dhtJudgeTarget: FuzzTarget = {
  name: 'dht-judge',
  covers: 'judgeEnvelope: decoding, drops, the violations of 9.1, sealed bodies (9.3), bodies and claims (9.5)',
  generate(rng) {
    return caseFrom(rng, JUDGED, { fromStore: rng.chance(0.1), clockShift: rng.pick([0, 0, 0, -3600, 86_400 * 40]) }, { cuts: () => [], randomMax: 600 });
  },
  run(c: FuzzCase) {
    const entry = (JUDGED[c.params.seed as number] ?? JUDGED[0]!).entry;
    const seen = new Set(entry.seen_dedup_keys);
    const judgement = judgeEnvelope(nativeProvider, {
      envelope: c.bytes,
      receiver: receiverOf(entry.receiver),
      sendingPeer: fromHex(entry.sending_peer),
      nowSeconds: entry.receiver_clock + (c.params.clockShift as number),
      seen: (k) => seen.has(toHex(k)),
      allowMemory: entry.allow_test_addresses,
      fromStore: c.params.fromStore === true,
    });
    const reason = judgement.reason ?? 'accepted';
    oracle(reason !== 'internal', () => `judgeEnvelope failed inside: ${judgement.verdict === 'drop' || judgement.verdict === 'violation' ? judgement.detail : ''}`);
    if (judgement.reason !== undefined) oracle(REASONS.has(judgement.reason), () => `an unknown reason ${judgement.reason}`);
    if (judgement.verdict === 'violation') oracle((VIOLATION_REASONS as readonly string[]).includes(judgement.reason), () => `a violation for a drop reason ${judgement.reason}`);
    const unchanged = unchangedSeed(c, JUDGED);
    if (unchanged !== undefined && c.params.fromStore !== true && c.params.clockShift === 0) {
      const expected = unchanged.entry.expected_verdict === 'violation' || unchanged.entry.expected_verdict === 'drop' ? `${unchanged.entry.expected_verdict}:${unchanged.entry.reason}` : unchanged.entry.expected_verdict;
      const got = judgement.reason === undefined ? judgement.verdict : `${judgement.verdict}:${judgement.reason}`;
      oracle(got === expected, () => `the vectors say ${expected}, the judgement ${got}`);
    }
    return `${judgement.verdict}${judgement.reason === undefined ? '' : `:${judgement.reason}`}`;
  },
};

// ---- the message decoders ------------------------------------------------------------------

const MESSAGE_SEEDS: Seed[] = [
  ...v.cleartext.map((e) => ({ name: `body ${e.name}`, bytes: fromHex(e.body) })),
  ...v.sealed.map((e) => ({ name: `inner body ${e.name}`, bytes: fromHex(e.inner_body) })),
  ...v.valid_envelopes.filter((e) => e.domain_message !== undefined).map((e) => ({ name: `domain ${e.name}`, bytes: encodeDomainMessage({ messageType: e.domain_message!.message_type, nonce: BigInt(e.domain_message!.nonce), payload: fromHex(e.domain_message!.payload) }) })),
  { name: 'saf request', bytes: encodeSafRequest({ since: 1_767_225_600n, limit: 100 }) },
  { name: 'saf stored', bytes: encodeSafStoredMessages(v.valid_envelopes.slice(0, 3).map((e, i) => ({ storedAt: BigInt(1_767_225_600 + i), envelope: fromHex(e.envelope) }))) },
  ...v.valid_envelopes.slice(0, 4).map((e) => ({ name: `envelope ${e.name}`, bytes: fromHex(e.envelope) })),
];

const DECODERS: Record<string, (bytes: Uint8Array) => unknown> = {
  domain: decodeDomainMessage,
  claim: decodePeerClaim,
  discovery: decodeDiscoveryMessage,
  safRequest: decodeSafRequest,
  safStored: decodeSafStoredMessages,
  envelope: decodeEnvelope,
};
const NOW = 1_767_225_600n;

/** The DHT message decoders target. */
export const dhtMessagesTarget: FuzzTarget = {
  name: 'dht-messages',
  covers: 'the DHT message decoders (domain, claim, discovery, SAF request and stored, envelope) and checkPeerClaim',
  generate(rng) {
    return caseFrom(rng, MESSAGE_SEEDS, { allowMemory: rng.chance(0.3) }, { cuts: () => [], randomMax: 600 });
  },
  run(c: FuzzCase) {
    const decoded: string[] = [];
    for (const [name, decode] of Object.entries(DECODERS)) {
      let value: unknown;
      try {
        value = decode(c.bytes);
      } catch (err) {
        typed(err, [DhtDecodeError], name);
        continue;
      }
      decoded.push(name);
      const claim = name === 'claim' ? (value as ReturnType<typeof decodePeerClaim>) : name === 'discovery' ? (value as ReturnType<typeof decodeDiscoveryMessage>).claim : undefined;
      if (claim !== undefined) {
        const check = checkPeerClaim(claim, { nowSeconds: NOW, allowMemory: c.params.allowMemory === true });
        if (check.ok) decoded.push(`${name}-claim-valid`);
      }
      if (name === 'safStored') for (const stored of value as ReturnType<typeof decodeSafStoredMessages>) oracle(stored.envelope.length <= c.bytes.length, 'a stored envelope longer than its message');
    }
    return decoded.length === 0 ? 'none' : decoded.join('+');
  },
};
