/**
 * `protocols/negotiation`: the acceptor and the opener fed a peer's frames as the stream shell
 * feeds them (bytes gathered, frames decoded one by one, each step applied), from the vectors'
 * exchanges, structured frames, their mutations and random bytes.
 */
import { fromHex } from '../../core/bytes.js';
import { TcommsError } from '../../core/errors.js';
import type { Prng } from '../../core/prng.js';
import { NegotiationViolation } from '../../protocols/negotiation/errors.js';
import { decodeNegotiationFrame, encodeNegotiationFrame, MAX_PROTOCOL_ID_LENGTH, MAX_ROUNDS } from '../../protocols/negotiation/frame.js';
import { NegotiationAcceptor, NegotiationOpener, type NegotiationStep } from '../../protocols/negotiation/negotiation.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, type Seed } from '../mutate.js';
import { loadVectors } from '../vectors.js';
import { concatAll, offsets } from './util.js';

const PROTOCOLS = ['/tari/messaging/0.1.0', '/tari/identity/1.0.0', '/tcomms/info/1', '/a', '/chat/1'];
const SUPPORTED = new Set(['/tari/messaging/0.1.0', '/tcomms/info/1']);
const encoder = new TextEncoder();

interface VectorCase {
  name: string;
  opener_bytes_hex: string;
  acceptor_bytes_hex: string;
}
const VECTOR_CASES = loadVectors<{ cases: VectorCase[] }>('tcomms-negotiation.json').cases;

function frameSeed(name: string, frames: Uint8Array[]): Seed {
  return { name, bytes: concatAll(frames), lengthFields: offsets(frames).map((offset) => ({ offset, size: 1 as const })), dictionary: PROTOCOLS.map((p) => encoder.encode(p)) };
}

/** What a peer could send: frames of known (or any) flags with known or random ids. */
function structuredFrames(rng: Prng): Seed {
  const frames = Array.from({ length: rng.range(1, 7) }, () => {
    const id = rng.chance(0.6) ? encoder.encode(rng.pick(PROTOCOLS)) : rng.bytes(rng.pick([0, 1, rng.int(MAX_PROTOCOL_ID_LENGTH + 1)]));
    return encodeNegotiationFrame(id, rng.pick([0, 0, 1, 2, 3, 4, 6, rng.int(256)]));
  });
  return frameSeed('structured frames', frames);
}

const VECTOR_SEEDS: Record<'opener' | 'acceptor', Seed[]> = {
  // The opener reads what the acceptor wrote, and the other way round.
  opener: VECTOR_CASES.filter((v) => v.acceptor_bytes_hex !== '').map((v) => ({ name: v.name, bytes: fromHex(v.acceptor_bytes_hex), dictionary: PROTOCOLS.map((p) => encoder.encode(p)) })),
  acceptor: VECTOR_CASES.filter((v) => v.opener_bytes_hex !== '').map((v) => ({ name: v.name, bytes: fromHex(v.opener_bytes_hex), dictionary: PROTOCOLS.map((p) => encoder.encode(p)) })),
};

interface Outcome {
  result: string;
  sent: string[];
  frames: number;
}

function drive(c: FuzzCase, cuts: readonly number[]): Outcome {
  const role = c.params.role as 'opener' | 'acceptor';
  const proposals = String(c.params.proposals).split(' ');
  const opener = role === 'opener' ? new NegotiationOpener(proposals, { optimistic: c.params.optimistic === true }) : undefined;
  const acceptor = role === 'acceptor' ? new NegotiationAcceptor(SUPPORTED) : undefined;
  const sent: string[] = [];
  let frames = 0;
  const apply = (step: NegotiationStep): string | undefined => {
    if (step.send !== undefined) sent.push(Buffer.from(step.send).toString('hex'));
    if (step.kind === 'continue') return undefined;
    if (step.kind === 'selected') {
      oracle(role === 'acceptor' ? SUPPORTED.has(step.protocol) : proposals.includes(step.protocol), () => `selected ${step.protocol}, which was not ${role === 'acceptor' ? 'supported' : 'proposed'}`);
      return `selected`;
    }
    oracle(step.error instanceof TcommsError, 'a failed step without a typed error');
    return `failed:${step.error.name}:${step.end}`;
  };
  let result = opener !== undefined ? apply(opener.start()) : undefined;
  let buffered: Uint8Array = new Uint8Array(0);
  for (const chunk of chunksOf(c.bytes, cuts)) {
    if (result !== undefined) break;
    buffered = concatAll([buffered, chunk]);
    for (;;) {
      let decoded;
      try {
        decoded = decodeNegotiationFrame(buffered);
      } catch (err) {
        result = `failed:${typed<Error>(err, [NegotiationViolation]).name}:decode`;
        break;
      }
      if (decoded === undefined) break;
      oracle(decoded.used >= 2 && decoded.used <= 2 + MAX_PROTOCOL_ID_LENGTH && decoded.used <= buffered.length, () => `a frame used ${decoded.used} bytes`);
      buffered = buffered.subarray(decoded.used);
      frames++;
      result = apply((opener ?? acceptor!).receive(decoded.frame));
      if (result !== undefined) break;
    }
    if (result === undefined) oracle(buffered.length < 2 + MAX_PROTOCOL_ID_LENGTH, () => `${buffered.length} bytes held between frames`);
  }
  // Bounded rounds: the acceptor decides within 5 of the opener's frames, the opener writes at most 5.
  if (role === 'acceptor') oracle(frames <= MAX_ROUNDS, () => `the acceptor read ${frames} frames without deciding`);
  else oracle(sent.length <= MAX_ROUNDS, () => `the opener wrote ${sent.length} frames`);
  // Once decided, a further frame is refused, never selected again.
  if (result !== undefined && !result.endsWith(':decode')) {
    const after = (opener ?? acceptor!).receive({ flags: 0, id: encoder.encode(proposals[0]!) });
    oracle(after.kind === 'failed' && after.end === 'reset', 'a decided negotiation took another frame');
  }
  return { result: result ?? 'pending', sent, frames };
}

/** The negotiation target. */
export const negotiationTarget: FuzzTarget = {
  name: 'negotiation',
  covers: 'NegotiationAcceptor and NegotiationOpener behind the frame decoder, as the stream shell drives them',
  generate(rng) {
    const role = rng.pick(['opener', 'acceptor'] as const);
    const proposals = Array.from({ length: rng.range(1, 6) }, () => rng.pick(PROTOCOLS));
    return caseFrom(rng, [...VECTOR_SEEDS[role], structuredFrames(rng)], { role, proposals: proposals.join(' '), optimistic: rng.chance(0.2) }, { randomMax: 600 });
  },
  run(c: FuzzCase) {
    const a = drive(c, c.cuts);
    if (c.cuts.length > 0) {
      const b = drive(c, []);
      oracle(a.result === b.result && a.sent.join() === b.sent.join() && a.frames === b.frames, () => `chunked and whole runs differ: ${a.result} vs ${b.result}`);
    }
    return `${c.params.role}:${a.result}`;
  },
};
