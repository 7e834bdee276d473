/**
 * `protocols/messaging`: the message frame decoder (u32 length, body up to the maximum) against
 * a naive reference, with chunks that are exact buffers, views into larger buffers and Node's
 * pooled Buffers, checking what it keeps alive between pushes.
 */
import type { Prng } from '../../core/prng.js';
import { MessageFrameDecoder, MessageTooLarge } from '../../protocols/messaging/frame.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, type Seed } from '../mutate.js';
import { concatAll, offsets, sameBytes, u32Frame } from './util.js';

interface Expected {
  bodies: Uint8Array[];
  error: number | undefined;
  /** Bytes of an unfinished frame at the end (its header included), or 0. */
  partial: number;
}

function reference(bytes: Uint8Array, max: number): Expected {
  const bodies: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (bytes.length - at >= 4) {
    const length = view.getUint32(at, false);
    if (length > max) return { bodies, error: length, partial: 0 };
    if (bytes.length - at - 4 < length) break;
    bodies.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { bodies, error: undefined, partial: bytes.length - at };
}

function validStream(rng: Prng, max: number): Seed {
  const frames = Array.from({ length: rng.range(0, 8) }, () => {
    const n = Math.min(max, rng.chance(0.05) ? rng.int(200_000) : rng.int(rng.pick([1, 10, 300, 5000])));
    return u32Frame(n > 4096 ? new Uint8Array(n).fill(n & 0xff) : rng.bytes(n));
  });
  return { name: `${frames.length} messages`, bytes: concatAll(frames), lengthFields: offsets(frames).map((offset) => ({ offset, size: 4 as const })) };
}

/** How a chunk reaches the decoder: its own buffer, a view of a larger one, or a pooled Buffer. */
function placed(chunk: Uint8Array, how: string, i: number): Uint8Array {
  if (how === 'exact') return chunk.slice();
  if (how === 'pooled' || (how === 'mixed' && i % 3 === 0)) return Buffer.from(chunk);
  const buffer = new ArrayBuffer(chunk.length * 3 + 100);
  const view = new Uint8Array(buffer, 50 + (i % 7), chunk.length);
  view.set(chunk);
  return view;
}

interface Run {
  bodies: Uint8Array[];
  error: MessageTooLarge | undefined;
  end: number | undefined;
}

function drive(c: FuzzCase, cuts: readonly number[]): Run {
  const max = c.params.max as number;
  const decoder = new MessageFrameDecoder(max);
  const bodies: Uint8Array[] = [];
  let error: MessageTooLarge | undefined;
  for (const [i, chunk] of chunksOf(c.bytes, cuts).entries()) {
    try {
      for (const body of decoder.push(placed(chunk, c.params.chunks as string, i))) bodies.push(body.slice());
    } catch (err) {
      error = typed<MessageTooLarge>(err, [MessageTooLarge]);
      break;
    }
    oracle(decoder.buffered <= max + 4, () => `${decoder.buffered} bytes buffered (bound ${max + 4})`);
    oracle(decoder.retained >= decoder.buffered, () => `retained ${decoder.retained} < buffered ${decoder.buffered}`);
    // What it keeps alive: each held piece at most twice its bytes, plus one small gathering buffer.
    oracle(decoder.retained <= 2 * decoder.buffered + 256, () => `${decoder.retained} bytes kept alive for ${decoder.buffered} buffered`);
  }
  return { bodies, error, end: error === undefined ? decoder.end() : undefined };
}

/** The messaging frame decoder target. */
export const messagingTarget: FuzzTarget = {
  name: 'messaging',
  covers: 'MessageFrameDecoder: frames, the maximum, what it keeps alive (exact, view and pooled chunks)',
  generate(rng) {
    const max = rng.pick([0, 16, 1000, 8 * 1024 * 1024]);
    return caseFrom(rng, [validStream(rng, max)], { max, chunks: rng.pick(['exact', 'views', 'pooled', 'mixed']) }, { mix: { random: 0.15, valid: 0.3 } });
  },
  run(c: FuzzCase) {
    const expected = reference(c.bytes, c.params.max as number);
    const a = drive(c, c.cuts);
    if (expected.error !== undefined) {
      oracle(a.error?.length === expected.error, () => `expected MessageTooLarge(${expected.error}), got ${a.error?.message ?? 'none'}`);
      oracle(a.bodies.length <= expected.bodies.length && a.bodies.every((b, i) => sameBytes(b, expected.bodies[i]!)), 'the bodies before the error differ from the reference');
      return 'error:MessageTooLarge';
    }
    oracle(a.error === undefined, () => `unexpected ${a.error!.message}`);
    oracle(a.bodies.length === expected.bodies.length && a.bodies.every((b, i) => sameBytes(b, expected.bodies[i]!)), () => `${a.bodies.length} bodies where the reference has ${expected.bodies.length}, or other bytes`);
    oracle((a.end ?? 0) === expected.partial, () => `end() reports ${a.end} lost bytes, the reference ${expected.partial}`);
    return expected.partial > 0 ? 'partial' : expected.bodies.length === 0 ? 'empty' : 'bodies';
  },
};
