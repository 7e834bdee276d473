/**
 * `protocols/identity`: the identity frame reader, then `validateIdentityMessage` on what it
 * gives, from the vectors' frames and messages (valid, invalid and the dialer's), mutated.
 */
import { fromHex } from '../../core/bytes.js';
import { montgomeryUOf } from '../../core/ed25519-point.js';
import { IDENTITY_FRAME_VERSION, IdentityFrameReader, IdentityInvalid, MAX_IDENTITY_MESSAGE, validateIdentityMessage, type IdentityInvalidReason } from '../../protocols/identity/index.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, unchangedSeed, type Seed } from '../mutate.js';
import { loadVectors } from '../vectors.js';
import { sameBytes } from './util.js';

interface Example {
  peer_identity_msg_protobuf: string;
  noise_static: string;
  expected?: string;
  reason?: string;
  what: string;
}
const v = loadVectors<{ public_key: string; identity_frame: string; noise_static: string; receiver_clock: number; valid_examples: Example[]; invalid_examples: Example[]; dialer_examples: Example[] }>('tcomms-identity.json');
const NOW = BigInt(v.receiver_clock);
const PUBLIC_KEY = fromHex(v.public_key);

/** Every reason `IdentityInvalid` may name. */
const REASONS: ReadonlySet<IdentityInvalidReason> = new Set<IdentityInvalidReason>([
  'frame',
  'protobuf',
  'no_public_key',
  'public_key_length',
  'public_key_invalid',
  'public_key_mismatch',
  'dialed_key_mismatch',
  'no_signature',
  'signature_version',
  'signature',
  'updated_at',
  'address_count',
  'address',
  'protocols',
  'user_agent',
]);

interface IdentitySeed extends Seed {
  noiseStatic: Uint8Array;
  /** The verdict of the vectors for the unchanged message. */
  expected: string;
}

function framed(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 + message.length);
  out[0] = IDENTITY_FRAME_VERSION;
  out[1] = message.length >> 8;
  out[2] = message.length & 0xff;
  out.set(message, 3);
  return out;
}

const examples: IdentitySeed[] = [...v.valid_examples, ...v.invalid_examples, ...v.dialer_examples].map((e) => ({
  name: e.what.slice(0, 60),
  bytes: framed(fromHex(e.peer_identity_msg_protobuf)),
  lengthFields: [{ offset: 1, size: 2 }],
  noiseStatic: fromHex(e.noise_static),
  expected: e.expected === 'accept' || (e as { expected_as_responder?: string }).expected_as_responder === 'accept' ? 'accept' : `reject:${e.reason ?? ''}`,
}));
const SEEDS: IdentitySeed[] = [{ name: 'identity_frame', bytes: fromHex(v.identity_frame), lengthFields: [{ offset: 1, size: 2 }], noiseStatic: fromHex(v.noise_static), expected: 'accept' }, ...examples];

/** The identity target. */
export const identityTarget: FuzzTarget = {
  name: 'identity',
  covers: 'IdentityFrameReader, then validateIdentityMessage (every rule of section 5)',
  generate(rng) {
    const c = caseFrom(rng, SEEDS, { allowMemory: rng.chance(0.3), dialed: rng.pick(['none', 'none', 'right', 'wrong']), trailing: rng.chance(0.1) }, { randomMax: 1100 });
    // Most mutated messages get a frame that fits them, so that they reach the validator.
    if (c.origin.startsWith('mutated') && c.bytes.length >= 3 && c.bytes.length - 3 <= MAX_IDENTITY_MESSAGE && rng.chance(0.7)) {
      const bytes = c.bytes.slice();
      bytes[0] = IDENTITY_FRAME_VERSION;
      bytes[1] = (bytes.length - 3) >> 8;
      bytes[2] = (bytes.length - 3) & 0xff;
      return { ...c, bytes, origin: `${c.origin} (frame fitted)` };
    }
    return c;
  },
  run(c: FuzzCase) {
    const seed = SEEDS[c.params.seed as number] ?? SEEDS[0]!;
    const reader = new IdentityFrameReader();
    let message: Uint8Array | undefined;
    try {
      for (const chunk of chunksOf(c.bytes, c.cuts)) {
        const got = reader.push(chunk);
        if (got !== undefined) {
          oracle(message === undefined, 'the reader gave a second message');
          message = got;
        }
      }
      // A byte after the frame is a violation, even a late one.
      if (c.params.trailing === true && message !== undefined) {
        reader.push(new Uint8Array(1));
        oracle(false, 'a byte after the frame was taken');
      }
      message = reader.end();
    } catch (err) {
      const e = typed<IdentityInvalid>(err, [IdentityInvalid]);
      oracle(e.reason === 'frame', () => `the frame reader refused with reason ${e.reason}`);
      return 'reject:frame';
    }
    oracle(message.length <= MAX_IDENTITY_MESSAGE && message.length === c.bytes.length - 3, () => `a message of ${message!.length} bytes from ${c.bytes.length} bytes`);
    const dialed = c.params.dialed === 'right' ? PUBLIC_KEY : c.params.dialed === 'wrong' ? new Uint8Array(32).fill(9) : undefined;
    let verdict: string;
    try {
      const id = validateIdentityMessage(message, { noiseStatic: seed.noiseStatic, nowSeconds: NOW, allowMemory: c.params.allowMemory === true, ...(dialed ? { dialedPublicKey: dialed } : {}) });
      // What is accepted is bound to the key the peer proved in Noise.
      oracle(sameBytes(montgomeryUOf(id.publicKey), seed.noiseStatic), 'an identity accepted for a key other than the Noise static key');
      oracle(id.addresses.length <= 5 && id.supportedProtocols.length <= 20, 'an identity beyond the limits was accepted');
      verdict = 'accept';
    } catch (err) {
      const e = typed<IdentityInvalid>(err, [IdentityInvalid]);
      oracle(REASONS.has(e.reason), () => `an unknown reason ${e.reason}`);
      verdict = `reject:${e.reason}`;
    }
    const unchanged = unchangedSeed(c, SEEDS);
    if (unchanged !== undefined && c.params.dialed === 'none' && c.params.allowMemory !== true) oracle(verdict === unchanged.expected, () => `the vectors say ${unchanged.expected}, the validator ${verdict}`);
    return verdict;
  },
};
