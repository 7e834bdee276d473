/**
 * `protocols/noise`: the handshake reads of XX and IX, as initiator and responder, driven as the
 * secure channel drives them (the u16 framing with each step's exact length, the length check,
 * the read, the empty-payload check, the dialed-key check), then the transport frames that
 * follow on the same decoder; and transport frame opening on its own, with every provider.
 */
import { nativeProvider, nodeCryptoProvider, stablelibProvider, type CryptoProvider, type X25519KeyPair } from '../../core/crypto/index.js';
import { fromHex } from '../../core/bytes.js';
import { mixSeed, Prng } from '../../core/prng.js';
import { U16FrameDecoder } from '../../protocols/framing/u16-frame-decoder.js';
import { CipherState } from '../../protocols/noise/cipher-state.js';
import { DecryptionFailed, DialedPublicKeyMismatch, FrameTooLarge, LowOrderPoint, NoiseMessageLength, NoisePayloadNotEmpty, UnexpectedEof } from '../../protocols/noise/errors.js';
import { HandshakeState } from '../../protocols/noise/handshake-state.js';
import { checkDialedKey, checkEmptyPayload, checkHandshakeLength, tcommsHandshakeLength, tcommsHandshakeMessages, tcommsPrologue, type TcommsPattern } from '../../protocols/noise/tcomms.js';
import { MAX_CIPHERTEXT, NoiseDecoder, NoiseEncoder } from '../../protocols/noise/transport.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, type Seed } from '../mutate.js';
import { concatAll, offsets, sameBytes, u16Frame } from './util.js';

const NETWORK_BYTE = 0x26;
const PROLOGUE = tcommsPrologue(NETWORK_BYTE);
const PATTERNS: readonly TcommsPattern[] = ['XX', 'IX'];
const ROLES = ['initiator', 'responder'] as const;
type Role = (typeof ROLES)[number];

/** X25519 public keys of small order and non-canonical forms of them: DH with them gives zero, or must be refused. */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(fromHex);

function keyPair(label: string): X25519KeyPair {
  return nativeProvider.x25519FromSecret(new Prng(mixSeed(label)).bytes(32));
}

const KEYS = { initS: keyPair('init-static'), initE: keyPair('init-ephemeral'), respS: keyPair('resp-static'), respE: keyPair('resp-ephemeral') };
/** Plaintexts each side sends after the handshake. */
const PLAINTEXTS = [35, 0, 1, 100, 700].map((n, i) => new Prng(1000 + i).bytes(n));

interface Transcript {
  /** The peer's bytes for each role: its handshake messages, framed, then its transport frames. */
  stream: Record<Role, Uint8Array>;
  /** Where each of the peer's frames starts in `stream`. */
  frames: Record<Role, number[]>;
  /** The peer's plaintext after the handshake, concatenated. */
  plaintext: Uint8Array;
}

function transcript(pattern: TcommsPattern): Transcript {
  const init = new HandshakeState(nativeProvider, { pattern, initiator: true, prologue: PROLOGUE, staticKeys: KEYS.initS, ephemeralKeys: KEYS.initE });
  const resp = new HandshakeState(nativeProvider, { pattern, initiator: false, prologue: PROLOGUE, staticKeys: KEYS.respS, ephemeralKeys: KEYS.respE });
  const sent: Record<Role, Uint8Array[]> = { initiator: [], responder: [] };
  for (let i = 0; i < tcommsHandshakeMessages(pattern); i++) {
    const [writer, reader, role] = i % 2 === 0 ? [init, resp, 'initiator' as const] : [resp, init, 'responder' as const];
    const message = writer.writeMessage();
    reader.readMessage(message);
    sent[role].push(u16Frame(message));
  }
  const a = init.split();
  const b = resp.split();
  for (const p of PLAINTEXTS) {
    sent.initiator.push(concatAll(new NoiseEncoder(a.send).encrypt(p)));
    sent.responder.push(concatAll(new NoiseEncoder(b.send).encrypt(p)));
  }
  // The stream a role reads is the other role's.
  return {
    stream: { initiator: concatAll(sent.responder), responder: concatAll(sent.initiator) },
    frames: { initiator: offsets(sent.responder), responder: offsets(sent.initiator) },
    plaintext: concatAll(PLAINTEXTS),
  };
}

const TRANSCRIPTS: Record<TcommsPattern, Transcript> = { XX: transcript('XX'), IX: transcript('IX') };

/** The lengths of the handshake messages the peer of `role` writes, in order. */
function peerLengths(pattern: TcommsPattern, role: Role): number[] {
  const out: number[] = [];
  for (let i = 0; i < tcommsHandshakeMessages(pattern); i++) if ((i % 2 === 0) !== (role === 'initiator')) out.push(tcommsHandshakeLength(pattern, i));
  return out;
}

function seedsFor(pattern: TcommsPattern, role: Role): Seed[] {
  const t = TRANSCRIPTS[pattern];
  const lengthFields = t.frames[role].map((offset) => ({ offset, size: 2 as const }));
  const dictionary = [...LOW_ORDER, KEYS.initE.publicKey, KEYS.respE.publicKey, KEYS.initS.publicKey, KEYS.respS.publicKey];
  // Handshake frames of the right lengths with random bodies: past the length checks, into the crypto.
  const rng = new Prng(pattern.length * 31 + role.length);
  const randomBodies = concatAll(peerLengths(pattern, role).map((n) => u16Frame(rng.bytes(n))));
  const lowOrder = concatAll(peerLengths(pattern, role).map((n) => u16Frame(concatAll([LOW_ORDER[2]!, new Uint8Array(n - 32)]))));
  return [
    { name: `${pattern} ${role} transcript`, bytes: t.stream[role], lengthFields, dictionary },
    { name: `${pattern} ${role} random bodies`, bytes: randomBodies, dictionary },
    { name: `${pattern} ${role} low-order ephemeral`, bytes: lowOrder, dictionary },
  ];
}

const SEEDS: Record<string, Seed[]> = {};
for (const pattern of PATTERNS) for (const role of ROLES) SEEDS[`${pattern}/${role}`] = seedsFor(pattern, role);

const HANDSHAKE_ERRORS = [FrameTooLarge, NoiseMessageLength, DecryptionFailed, LowOrderPoint, NoisePayloadNotEmpty, DialedPublicKeyMismatch, UnexpectedEof];

/** The Noise handshake target: XX and IX, both roles, then the transport frames after. */
export const noiseHandshakeTarget: FuzzTarget = {
  name: 'noise-handshake',
  covers: 'HandshakeState reads (XX, IX; initiator, responder) behind the u16 framing with step limits; transport after',
  generate(rng) {
    const pattern = rng.pick(PATTERNS);
    const role = rng.pick(ROLES);
    const seeds = SEEDS[`${pattern}/${role}`]!;
    const dialed = role === 'initiator' ? rng.pick(['right', 'right', 'none', 'wrong']) : 'none';
    return caseFrom(rng, seeds, { pattern, role, dialed, pieces: rng.chance(0.5) }, { mix: { random: 0.1, valid: 0.15 } });
  },
  run(c: FuzzCase) {
    const pattern = c.params.pattern as TcommsPattern;
    const role = c.params.role as Role;
    const initiator = role === 'initiator';
    const expectedPeer = initiator ? KEYS.respS.publicKey : KEYS.initS.publicKey;
    const dialed = c.params.dialed === 'right' ? KEYS.respS.publicKey : c.params.dialed === 'wrong' ? KEYS.initS.publicKey : undefined;
    const hs = new HandshakeState(nativeProvider, { pattern, initiator, prologue: PROLOGUE, staticKeys: initiator ? KEYS.initS : KEYS.respS, ephemeralKeys: initiator ? KEYS.initE : KEYS.respE });
    const decoder = new U16FrameDecoder(MAX_CIPHERTEXT);
    decoder.expectFrames(peerLengths(pattern, role));
    const chunks = chunksOf(c.bytes, c.cuts);
    let next = 0;
    const queue: Uint8Array[] = [];
    const plaintext: Uint8Array[] = [];
    let otherKey = false;
    const checkBound = () => oracle(decoder.buffered <= MAX_CIPHERTEXT + 1, () => `the decoder holds ${decoder.buffered} bytes`);
    try {
      for (let index = 0; index < tcommsHandshakeMessages(pattern); index++) {
        if ((index % 2 === 0) === initiator) {
          hs.writeMessage();
          continue;
        }
        while (queue.length === 0 && next < chunks.length) {
          queue.push(...decoder.push(chunks[next++]!));
          checkBound();
        }
        const message = queue.shift();
        if (message === undefined) {
          decoder.end();
          return `eof:handshake-${index}`;
        }
        checkHandshakeLength(pattern, index, message);
        checkEmptyPayload(hs.readMessage(message));
        if (initiator) checkDialedKey(dialed, hs.remoteStatic);
      }
      const result = hs.split();
      // Only an IX responder completes with any key the initiator names (message 1 is in the
      // clear): the transport frames then prove it, or fail. Every other handshake authenticates.
      otherKey = !sameBytes(result.remoteStatic, expectedPeer);
      oracle(!otherKey || (pattern === 'IX' && !initiator), 'a handshake completed with another static key than the peer of the transcript');
      const noise = new NoiseDecoder(result.recv, decoder);
      for (const frame of queue) noise.decryptFrame(frame, plaintext);
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        if (c.params.pieces === true) noise.decryptPieces(chunk, plaintext);
        else noise.decrypt(chunk, plaintext);
        checkBound();
      }
      noise.end();
    } catch (err) {
      const e = typed<Error>(err, HANDSHAKE_ERRORS);
      checkPrefix(plaintext, TRANSCRIPTS[pattern].plaintext);
      return `error:${e.name}${hs.complete ? ':transport' : ''}`;
    }
    const got = checkPrefix(plaintext, TRANSCRIPTS[pattern].plaintext);
    if (sameBytes(c.bytes, TRANSCRIPTS[pattern].stream[role]) && c.params.dialed !== 'wrong') oracle(got === TRANSCRIPTS[pattern].plaintext.length, 'the valid transcript lost plaintext');
    if (otherKey) oracle(got === 0, 'frames decrypted under keys the transcript never had');
    return otherKey ? 'complete:other-key' : got === TRANSCRIPTS[pattern].plaintext.length ? 'complete' : 'complete:prefix';
  },
};

/** What a peer's authenticated frames give is always a prefix of what it sent (AEAD): returns its length. */
function checkPrefix(parts: readonly Uint8Array[], expected: Uint8Array): number {
  const got = concatAll(parts);
  oracle(got.length <= expected.length && sameBytes(got, expected.subarray(0, got.length)), 'decrypted plaintext that the peer never sent');
  return got.length;
}

// ---- transport frames alone ------------------------------------------------------------------

const TRANSPORT_KEY = new Prng(77).bytes(32);
const PROVIDERS: Record<string, CryptoProvider> = { native: nativeProvider, stablelib: stablelibProvider, node: nodeCryptoProvider };

function transportSeed(name: string, sizes: readonly number[]): Seed & { plaintext: Uint8Array } {
  const encoder = new NoiseEncoder(new CipherState(nativeProvider, TRANSPORT_KEY));
  const rng = new Prng(sizes.length * 131 + (sizes[0] ?? 0));
  const plaintexts = sizes.map((n) => rng.bytes(n));
  const frames = plaintexts.map((p) => concatAll(encoder.encrypt(p)));
  return { name, bytes: concatAll(frames), lengthFields: offsets(frames).map((offset) => ({ offset, size: 2 as const })), plaintext: concatAll(plaintexts) };
}

const TRANSPORT_SEEDS = [
  transportSeed('small frames', [0, 1, 15, 16, 17, 100]),
  transportSeed('a full frame', [65_519, 3]),
  transportSeed('one frame', [1000]),
  transportSeed('empty frames', [0, 0, 0]),
  transportSeed('many frames', Array.from({ length: 40 }, (_, i) => (i * 37) % 300)),
];

/** The Noise transport target: framed ciphertext in, plaintext out, with each provider and API. */
export const noiseTransportTarget: FuzzTarget = {
  name: 'noise-transport',
  covers: 'NoiseDecoder: decrypt, decryptPieces, frames+decryptFrame; native, stablelib and node:crypto',
  generate(rng) {
    return caseFrom(rng, TRANSPORT_SEEDS, { provider: rng.pick(Object.keys(PROVIDERS)), api: rng.pick(['decrypt', 'pieces', 'frames']) }, { mix: { random: 0.15, valid: 0.2 } });
  },
  run(c: FuzzCase) {
    const seed = TRANSPORT_SEEDS[c.params.seed as number];
    const expected = seed?.plaintext ?? new Uint8Array(0);
    const decoder = new NoiseDecoder(new CipherState(PROVIDERS[c.params.provider as string]!, TRANSPORT_KEY));
    const out: Uint8Array[] = [];
    try {
      for (const chunk of chunksOf(c.bytes, c.cuts)) {
        if (c.params.api === 'pieces') decoder.decryptPieces(chunk, out);
        else if (c.params.api === 'frames') for (const frame of decoder.frames(chunk)) decoder.decryptFrame(frame, out);
        else decoder.decrypt(chunk, out);
        oracle(decoder.buffered <= MAX_CIPHERTEXT + 1, () => `the decoder holds ${decoder.buffered} bytes`);
      }
      decoder.end();
    } catch (err) {
      const e = typed<Error>(err, [DecryptionFailed, UnexpectedEof]);
      checkPrefix(out, expected);
      return `error:${e.name}`;
    }
    const got = checkPrefix(out, expected);
    if (seed !== undefined && sameBytes(c.bytes, seed.bytes)) oracle(got === expected.length, 'a valid stream lost plaintext');
    return got === expected.length ? 'all' : 'prefix';
  },
};
