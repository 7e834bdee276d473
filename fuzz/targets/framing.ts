/**
 * `protocols/framing`: the u16 frame decoder (the Noise framing), with per-step limits as the
 * handshake sets them, through `push` and `pushPieces`, against a naive reference decoder.
 */
import type { Prng } from '../../core/prng.js';
import { FrameTooLarge, UnexpectedEof } from '../../protocols/noise/errors.js';
import { U16FrameDecoder, U16_MAX } from '../../protocols/framing/u16-frame-decoder.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, type LengthField, type Seed } from '../mutate.js';
import { concatAll, sameBytes } from './util.js';

interface Expected {
  frames: Uint8Array[];
  error: { length: number; max: number } | undefined;
  /** Bytes of a partial frame at the end (a lone prefix byte counts 1), or -1 when idle. */
  partial: number;
}

/** The naive reference: one pass over the whole stream. */
function reference(bytes: Uint8Array, max: number, limits: readonly number[]): Expected {
  const frames: Uint8Array[] = [];
  const pending = [...limits];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 2) return { frames, error: undefined, partial: 1 };
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    const limit = pending.length > 0 ? pending.shift()! : max;
    if (length > limit) return { frames, error: { length, max: limit }, partial: -1 };
    if (bytes.length - at - 2 < length) return { frames, error: undefined, partial: bytes.length - at - 2 };
    frames.push(bytes.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return { frames, error: undefined, partial: -1 };
}

function validStream(rng: Prng, max: number, limits: readonly number[]): Seed {
  const parts: Uint8Array[] = [];
  const lengthFields: LengthField[] = [];
  let at = 0;
  const count = rng.range(0, 6);
  for (let i = 0; i < count; i++) {
    const limit = i < limits.length ? limits[i]! : max;
    const length = rng.chance(limit > 2000 ? 0.03 : 0.3) ? limit : rng.int(Math.min(limit, rng.pick([8, 100, 2000])) + 1);
    const frame = new Uint8Array(2 + length);
    frame[0] = length >> 8;
    frame[1] = length & 0xff;
    frame.set(rng.bytes(Math.min(length, 64)), 2);
    lengthFields.push({ offset: at, size: 2 });
    parts.push(frame);
    at += frame.length;
  }
  return { name: `${count} frames`, bytes: concatAll(parts), lengthFields };
}

/** The u16 frame decoder target. */
export const framingTarget: FuzzTarget = {
  name: 'framing',
  covers: 'U16FrameDecoder: push and pushPieces, per-step limits, end()',
  generate(rng) {
    const max = rng.chance(0.5) ? U16_MAX : rng.int(rng.pick([4, 300, 70_000]));
    const limits = rng.chance(0.5) ? [] : Array.from({ length: rng.range(1, 3) }, () => rng.int(rng.pick([40, 100, 300])));
    const seed = validStream(rng, Math.min(max, U16_MAX), limits);
    return caseFrom(rng, [seed], { max: Math.min(max, U16_MAX), limits: limits.join(','), pieces: rng.chance(0.5) });
  },
  run(c: FuzzCase) {
    const max = c.params.max as number;
    const limits = String(c.params.limits) === '' ? [] : String(c.params.limits).split(',').map(Number);
    const expected = reference(c.bytes, max, limits);
    const decoder = new U16FrameDecoder(max);
    if (limits.length > 0) decoder.expectFrames(limits);
    const got: Uint8Array[] = [];
    const bound = Math.max(max, ...limits) + 1;
    let error: FrameTooLarge | undefined;
    for (const chunk of chunksOf(c.bytes, c.cuts)) {
      try {
        if (c.params.pieces === true) for (const pieces of decoder.pushPieces(chunk)) got.push(concatAll(pieces));
        else got.push(...decoder.push(chunk));
      } catch (err) {
        error = typed<FrameTooLarge>(err, [FrameTooLarge]);
        break;
      }
      oracle(decoder.buffered <= bound, () => `the decoder holds ${decoder.buffered} bytes (bound ${bound})`);
    }
    if (expected.error !== undefined) {
      oracle(error !== undefined && error.length === expected.error.length && error.max === expected.error.max, () => `expected FrameTooLarge(${expected.error!.length}, ${expected.error!.max}), got ${error?.message ?? 'none'}`);
      // Frames completed by the throwing push are lost with it: what came out is a prefix.
      oracle(got.length <= expected.frames.length && got.every((f, i) => sameBytes(f, expected.frames[i]!)), 'the frames before the error differ from the reference');
      return 'error:FrameTooLarge';
    }
    oracle(error === undefined, () => `unexpected ${error!.message}`);
    oracle(got.length === expected.frames.length && got.every((f, i) => sameBytes(f, expected.frames[i]!)), () => `${got.length} frames where the reference has ${expected.frames.length}, or different bytes`);
    oracle(decoder.idle === (expected.partial < 0), 'idle differs from the reference');
    if (expected.partial >= 0) oracle(decoder.buffered === expected.partial, () => `buffered ${decoder.buffered}, reference ${expected.partial}`);
    try {
      decoder.end();
    } catch (err) {
      typed(err, [UnexpectedEof]);
      oracle(expected.partial >= 0, 'end() threw while idle');
      return 'partial';
    }
    oracle(expected.partial < 0, 'end() did not throw on a partial frame');
    return got.length === 0 ? 'empty' : 'frames';
  },
};
