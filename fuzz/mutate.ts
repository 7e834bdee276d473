/**
 * Structure-aware mutations and chunkings: bit flips, byte changes, truncations, deletions,
 * insertions, duplications, dictionary tokens and changes of known length fields, applied to
 * valid inputs; and the cut points that split a stream into chunks.
 */
import type { Prng } from '../core/prng.js';
import type { FuzzCase, Params } from './harness.js';

/** A length (or count) field of a valid input: where it is and how it is written. */
export interface LengthField {
  offset: number;
  size: 1 | 2 | 4;
}

/** What a mutator knows about a valid input. */
export interface Structure {
  lengthFields?: readonly LengthField[];
  /** Tokens worth inserting or writing over (ids, magic values, low-order points, ...). */
  dictionary?: readonly Uint8Array[];
}

/** A valid input and its structure. */
export interface Seed extends Structure {
  bytes: Uint8Array;
  /** A name for reports. */
  name: string;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x04, 0x08, 0x0a, 0x0d, 0x10, 0x20, 0x2e, 0x40, 0x7f, 0x80, 0xa7, 0xfe, 0xff];

function interestingLength(rng: Prng, current: number, size: 1 | 2 | 4): number {
  const max = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  const choices = [0, 1, max, max - 1, Math.floor(max / 2), Math.floor(max / 2) + 1, current + 1, current - 1, current + rng.range(2, 64), current - rng.range(2, 64), rng.int(max + 1)];
  const v = rng.pick(choices);
  return Math.min(max, Math.max(0, v));
}

function writeField(bytes: Uint8Array, f: LengthField, value: number): void {
  if (f.offset + f.size > bytes.length) return;
  for (let i = 0; i < f.size; i++) bytes[f.offset + i] = (value >>> (8 * (f.size - 1 - i))) & 0xff;
}

function readField(bytes: Uint8Array, f: LengthField): number {
  let v = 0;
  for (let i = 0; i < f.size; i++) v = v * 256 + (bytes[f.offset + i] ?? 0);
  return v;
}

function concat3(a: Uint8Array, b: Uint8Array, c: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length + c.length);
  out.set(a, 0);
  out.set(b, a.length);
  out.set(c, a.length + b.length);
  return out;
}

/** Applies one to `max` mutations to a copy of `input`. */
export function mutate(rng: Prng, input: Uint8Array, structure: Structure = {}, max = 4): Uint8Array {
  let bytes: Uint8Array = input.slice();
  const fields = structure.lengthFields ?? [];
  const dictionary = structure.dictionary ?? [];
  const n = rng.range(1, max);
  for (let k = 0; k < n; k++) {
    const op = rng.int(12);
    const len = bytes.length;
    const at = len === 0 ? 0 : rng.int(len);
    switch (op) {
      case 0: // a bit flip
        if (len > 0) bytes[at]! ^= 1 << rng.int(8);
        break;
      case 1: // a random byte
        if (len > 0) bytes[at] = rng.int(256);
        break;
      case 2: // an interesting byte
        if (len > 0) bytes[at] = rng.pick(INTERESTING_BYTES);
        break;
      case 3: // a truncation
        bytes = bytes.subarray(0, rng.int(len + 1));
        break;
      case 4: {
        // a deleted range
        const end = Math.min(len, at + 1 + rng.int(Math.min(64, len - at)));
        bytes = concat3(bytes.subarray(0, at), new Uint8Array(0), bytes.subarray(end));
        break;
      }
      case 5: // inserted random bytes
        bytes = concat3(bytes.subarray(0, at), rng.bytes(rng.range(1, rng.pick([4, 16, 300]))), bytes.subarray(at));
        break;
      case 6: {
        // a duplicated range
        const end = Math.min(len, at + 1 + rng.int(Math.min(256, Math.max(1, len - at))));
        bytes = concat3(bytes.subarray(0, end), bytes.slice(at, end), bytes.subarray(end));
        break;
      }
      case 7:
      case 8: {
        // a length field changed (offsets as in the valid input: earlier changes may shift them)
        if (fields.length === 0) {
          if (len > 0) bytes[at] = rng.pick(INTERESTING_BYTES);
          break;
        }
        const f = rng.pick(fields);
        writeField(bytes, f, interestingLength(rng, readField(bytes, f), f.size));
        break;
      }
      case 9: {
        // a dictionary token, inserted or written over
        if (dictionary.length === 0) {
          if (len > 0) bytes[at]! ^= 0xff;
          break;
        }
        const token = rng.pick(dictionary);
        if (rng.chance(0.5) || at + token.length > len) bytes = concat3(bytes.subarray(0, at), token, bytes.subarray(at));
        else bytes.set(token, at);
        break;
      }
      case 10: // the end duplicated or cut short by one
        bytes = rng.chance(0.5) ? bytes.subarray(0, Math.max(0, len - 1)) : concat3(bytes, bytes.slice(Math.max(0, len - rng.range(1, 16))), new Uint8Array(0));
        break;
      default: {
        // two bytes swapped
        if (len < 2) break;
        const other = rng.int(len);
        const t = bytes[at]!;
        bytes[at] = bytes[other]!;
        bytes[other] = t;
      }
    }
    if (bytes.buffer.byteLength !== bytes.length || bytes.byteOffset !== 0) bytes = bytes.slice();
  }
  return bytes;
}

/** Random bytes of a length skewed towards small (most decoders care about the first bytes). */
export function randomBytes(rng: Prng, max = 4096): Uint8Array {
  return rng.bytes(rng.int(Math.min(max, rng.pick([4, 16, 64, 512, 4096])) + 1));
}

/** Where to cut `length` bytes into chunks: not at all, at every byte, once, or a few random times. */
export function randomCuts(rng: Prng, length: number): number[] {
  if (length < 2) return [];
  const mode = rng.int(6);
  if (mode === 0) return [];
  if (mode === 1 && length <= 600) return Array.from({ length: length - 1 }, (_, i) => i + 1);
  const count = mode === 2 ? 1 : rng.range(1, Math.min(length - 1, mode === 3 ? 4 : 40));
  const cuts = new Set<number>();
  for (let i = 0; i < count; i++) cuts.add(rng.range(1, length - 1));
  return [...cuts].sort((a, b) => a - b);
}

/** Cut points from a list of boundaries (frame starts), each kept with probability `p`, plus a few random ones. */
export function cutsAt(rng: Prng, boundaries: readonly number[], length: number, p = 1): number[] {
  const cuts = new Set<number>(boundaries.filter((b) => b > 0 && b < length && rng.chance(p)));
  for (const c of rng.chance(0.5) ? randomCuts(rng, length) : []) cuts.add(c);
  return [...cuts].sort((a, b) => a - b);
}

/** Share of cases with fully random bytes, of valid inputs unchanged, and (the rest) of mutated ones. */
export interface Mix {
  random: number;
  valid: number;
}

const DEFAULT_MIX: Mix = { random: 0.2, valid: 0.2 };

/**
 * A case whose bytes are random, one of `seeds` unchanged, or one of them mutated; cut at random
 * (or as `cuts` says). The seed's index is `params.seed` (-1 for random bytes).
 */
export function caseFrom(rng: Prng, seeds: readonly Seed[], params: Params, options: { mix?: Mix; randomMax?: number; cuts?: (bytes: Uint8Array, seed: Seed | undefined) => number[] } = {}): FuzzCase {
  const mix = options.mix ?? DEFAULT_MIX;
  const r = rng.float();
  let bytes: Uint8Array;
  let origin: string;
  let seed: Seed | undefined;
  let index = -1;
  if (r < mix.random || seeds.length === 0) {
    bytes = randomBytes(rng, options.randomMax);
    origin = 'random';
  } else {
    index = rng.int(seeds.length);
    seed = seeds[index]!;
    if (r < mix.random + mix.valid) {
      bytes = seed.bytes;
      origin = `valid ${seed.name}`;
    } else {
      bytes = mutate(rng, seed.bytes, seed);
      origin = `mutated ${seed.name}`;
    }
  }
  const cuts = options.cuts ? options.cuts(bytes, seed) : randomCuts(rng, bytes.length);
  return { bytes, cuts, params: { ...params, seed: index }, origin };
}

/** The seed a case was made from when its bytes are that seed's unchanged (a valid input), else undefined. */
export function unchangedSeed<S extends Seed>(c: FuzzCase, seeds: readonly S[]): S | undefined {
  const index = c.params.seed;
  if (typeof index !== 'number' || index < 0) return undefined;
  const seed = seeds[index];
  if (seed === undefined || seed.bytes.length !== c.bytes.length) return undefined;
  for (let i = 0; i < seed.bytes.length; i++) if (seed.bytes[i] !== c.bytes[i]) return undefined;
  return seed;
}
