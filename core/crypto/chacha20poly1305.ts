/**
 * ChaCha20-Poly1305 (RFC 8439) for small messages, written for the per-message cost: no
 * allocation but the output, key and nonce read once, every Poly1305 block a full 16 bytes (the
 * AEAD pads to 16). The native provider seals and opens messages up to `SMALL_AEAD_BYTES` with
 * it, where a node:crypto cipher object costs more to set up than the message costs to encrypt
 * (`bench/index.ts`, "seal and frame"). Checked against the RFC 8439 AEAD vector, a BigInt
 * Poly1305 and node:crypto on random keys, nonces, AD and lengths
 * (spec/core/crypto/chacha20poly1305.spec.ts).
 *
 * Poly1305 runs on ten 13-bit limbs in doubles: a product sum stays below 2^34, exact in a
 * double, so no 64-bit arithmetic is needed.
 */

const TAG = 16;

// The ChaCha20 state of the block being made, and its output.
const state = new Uint32Array(16);
const block = new Uint32Array(16);
// Poly1305: the clamped key r (ten 13-bit limbs), 5r, the accumulator h, and h + 5 - 2^130.
const polyR = new Float64Array(10);
const polyR5 = new Float64Array(10);
const polyH = new Float64Array(10);
const polyG = new Float64Array(10);
// A 16-byte scratch block for padding and the lengths.
const pad = new Uint8Array(16);
// The s half of the one-time key, as four 32-bit words.
let s0 = 0, s1 = 0, s2 = 0, s3 = 0;

const LIMB = 8192; // 2^13

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Sets up the ChaCha20 state for `key` and `nonce` (RFC 8439 section 2.3). */
function setup(key: Uint8Array, nonce: Uint8Array): void {
  state[0] = 0x61707865;
  state[1] = 0x3320646e;
  state[2] = 0x79622d32;
  state[3] = 0x6b206574;
  for (let i = 0; i < 8; i++) state[4 + i] = u32le(key, 4 * i);
  state[13] = u32le(nonce, 0);
  state[14] = u32le(nonce, 4);
  state[15] = u32le(nonce, 8);
}

/** One ChaCha20 block (20 rounds) for block counter `counter` into `block`. */
function chachaBlock(counter: number): void {
  state[12] = counter;
  let x0 = state[0]!, x1 = state[1]!, x2 = state[2]!, x3 = state[3]!;
  let x4 = state[4]!, x5 = state[5]!, x6 = state[6]!, x7 = state[7]!;
  let x8 = state[8]!, x9 = state[9]!, x10 = state[10]!, x11 = state[11]!;
  let x12 = state[12]!, x13 = state[13]!, x14 = state[14]!, x15 = state[15]!;
  for (let i = 0; i < 10; i++) {
    // Columns.
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
    // Diagonals.
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  block[0] = x0 + state[0]!; block[1] = x1 + state[1]!; block[2] = x2 + state[2]!; block[3] = x3 + state[3]!;
  block[4] = x4 + state[4]!; block[5] = x5 + state[5]!; block[6] = x6 + state[6]!; block[7] = x7 + state[7]!;
  block[8] = x8 + state[8]!; block[9] = x9 + state[9]!; block[10] = x10 + state[10]!; block[11] = x11 + state[11]!;
  block[12] = x12 + state[12]!; block[13] = x13 + state[13]!; block[14] = x14 + state[14]!; block[15] = x15 + state[15]!;
}

/** XORs the first `length` bytes of `src` with the key stream (counter from 1) into `dst` at `o`. */
function xorStream(src: Uint8Array, length: number, dst: Uint8Array, o: number): void {
  let counter = 1;
  for (let done = 0; done < length; done += 64) {
    chachaBlock(counter++);
    const n = Math.min(64, length - done);
    const words = n >> 2;
    let a = done;
    let b = o + done;
    for (let j = 0; j < words; j++, a += 4, b += 4) {
      const w = block[j]!;
      dst[b] = src[a]! ^ (w & 0xff);
      dst[b + 1] = src[a + 1]! ^ ((w >>> 8) & 0xff);
      dst[b + 2] = src[a + 2]! ^ ((w >>> 16) & 0xff);
      dst[b + 3] = src[a + 3]! ^ (w >>> 24);
    }
    for (let i = words << 2; i < n; i++, a++, b++) dst[b] = src[a]! ^ ((block[i >> 2]! >>> ((i & 3) << 3)) & 0xff);
  }
}

/** Poly1305 set-up from the one-time key, the first 32 bytes of block 0 (RFC 8439 section 2.6). */
function polyInit(): void {
  chachaBlock(0);
  polyKey(block[0]!, block[1]!, block[2]!, block[3]!, block[4]!, block[5]!, block[6]!, block[7]!);
}

/** Poly1305 set-up from the key's eight little-endian words: r (clamped) and s. */
function polyKey(t0: number, t1: number, t2: number, t3: number, w4: number, w5: number, w6: number, w7: number): void {
  limbs(t0 & 0x0fffffff, t1 & 0x0ffffffc, t2 & 0x0ffffffc, t3 & 0x0ffffffc, polyR);
  s0 = w4;
  s1 = w5;
  s2 = w6;
  s3 = w7;
  for (let i = 0; i < 10; i++) {
    polyR5[i] = 5 * polyR[i]!;
    polyH[i] = 0;
  }
}

/**
 * The 128-bit value `t3:t2:t1:t0` as ten 13-bit limbs (the clamped key r; {@link polyBlocks}
 * splits each message block the same way, inline on its locals).
 */
function limbs(t0: number, t1: number, t2: number, t3: number, out: Float64Array): void {
  out[0] = t0 & 0x1fff;
  out[1] = (t0 >>> 13) & 0x1fff;
  out[2] = ((t0 >>> 26) | (t1 << 6)) & 0x1fff;
  out[3] = (t1 >>> 7) & 0x1fff;
  out[4] = ((t1 >>> 20) | (t2 << 12)) & 0x1fff;
  out[5] = (t2 >>> 1) & 0x1fff;
  out[6] = (t2 >>> 14) & 0x1fff;
  out[7] = ((t2 >>> 27) | (t3 << 5)) & 0x1fff;
  out[8] = (t3 >>> 8) & 0x1fff;
  out[9] = t3 >>> 21;
}

/**
 * Absorbs `count` full 16-byte blocks of `m` from `o`: for each, h = (h + m + 2^128) * r mod
 * 2^130 - 5. Unrolled over locals: this is the hot loop of a small message.
 */
function polyBlocks(m: Uint8Array, o: number, count: number): void {
  let h0 = polyH[0]!; let h1 = polyH[1]!; let h2 = polyH[2]!; let h3 = polyH[3]!; let h4 = polyH[4]!; let h5 = polyH[5]!; let h6 = polyH[6]!; let h7 = polyH[7]!; let h8 = polyH[8]!; let h9 = polyH[9]!;
  const r0 = polyR[0]!; const r1 = polyR[1]!; const r2 = polyR[2]!; const r3 = polyR[3]!; const r4 = polyR[4]!; const r5 = polyR[5]!; const r6 = polyR[6]!; const r7 = polyR[7]!; const r8 = polyR[8]!; const r9 = polyR[9]!;
  const q1 = polyR5[1]!; const q2 = polyR5[2]!; const q3 = polyR5[3]!; const q4 = polyR5[4]!; const q5 = polyR5[5]!; const q6 = polyR5[6]!; const q7 = polyR5[7]!; const q8 = polyR5[8]!; const q9 = polyR5[9]!;
  for (let k = 0; k < count; k++, o += 16) {
    const t0 = u32le(m, o), t1 = u32le(m, o + 4), t2 = u32le(m, o + 8), t3 = u32le(m, o + 12);
    h0 += t0 & 0x1fff;
    h1 += (t0 >>> 13) & 0x1fff;
    h2 += ((t0 >>> 26) | (t1 << 6)) & 0x1fff;
    h3 += (t1 >>> 7) & 0x1fff;
    h4 += ((t1 >>> 20) | (t2 << 12)) & 0x1fff;
    h5 += (t2 >>> 1) & 0x1fff;
    h6 += (t2 >>> 14) & 0x1fff;
    h7 += ((t2 >>> 27) | (t3 << 5)) & 0x1fff;
    h8 += (t3 >>> 8) & 0x1fff;
    h9 += (t3 >>> 21) | 2048;
    // d = h * r; the limbs past the tenth fold back times 5 (2^130 = 5 mod p). Each d < 2^34.
    const d0 = h0 * r0 + h1 * q9 + h2 * q8 + h3 * q7 + h4 * q6 + h5 * q5 + h6 * q4 + h7 * q3 + h8 * q2 + h9 * q1;
    const d1 = h0 * r1 + h1 * r0 + h2 * q9 + h3 * q8 + h4 * q7 + h5 * q6 + h6 * q5 + h7 * q4 + h8 * q3 + h9 * q2;
    const d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * q9 + h4 * q8 + h5 * q7 + h6 * q6 + h7 * q5 + h8 * q4 + h9 * q3;
    const d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * q9 + h5 * q8 + h6 * q7 + h7 * q6 + h8 * q5 + h9 * q4;
    const d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * q9 + h6 * q8 + h7 * q7 + h8 * q6 + h9 * q5;
    const d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0 + h6 * q9 + h7 * q8 + h8 * q7 + h9 * q6;
    const d6 = h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2 + h5 * r1 + h6 * r0 + h7 * q9 + h8 * q8 + h9 * q7;
    const d7 = h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3 + h5 * r2 + h6 * r1 + h7 * r0 + h8 * q9 + h9 * q8;
    const d8 = h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4 + h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * q9;
    const d9 = h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5 + h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
    let c = (d0 / LIMB) | 0;
    h0 = d0 - c * LIMB;
    let v = d1 + c;
    c = (v / LIMB) | 0;
    h1 = v - c * LIMB;
    v = d2 + c;
    c = (v / LIMB) | 0;
    h2 = v - c * LIMB;
    v = d3 + c;
    c = (v / LIMB) | 0;
    h3 = v - c * LIMB;
    v = d4 + c;
    c = (v / LIMB) | 0;
    h4 = v - c * LIMB;
    v = d5 + c;
    c = (v / LIMB) | 0;
    h5 = v - c * LIMB;
    v = d6 + c;
    c = (v / LIMB) | 0;
    h6 = v - c * LIMB;
    v = d7 + c;
    c = (v / LIMB) | 0;
    h7 = v - c * LIMB;
    v = d8 + c;
    c = (v / LIMB) | 0;
    h8 = v - c * LIMB;
    v = d9 + c;
    c = (v / LIMB) | 0;
    h9 = v - c * LIMB;
    // The carry out of the top limb is a multiple of 2^130: fold it back times 5.
    h0 += c * 5;
    c = h0 >>> 13;
    h0 &= 0x1fff;
    h1 += c;
  }
  polyH[0] = h0; polyH[1] = h1; polyH[2] = h2; polyH[3] = h3; polyH[4] = h4; polyH[5] = h5; polyH[6] = h6; polyH[7] = h7; polyH[8] = h8; polyH[9] = h9;
}

/** Absorbs `length` bytes of `m` from `o`, zero-padded to a multiple of 16. */
function polyPadded(m: Uint8Array, o: number, length: number): void {
  const full = length & ~15;
  polyBlocks(m, o, full >> 4);
  if (full < length) {
    pad.fill(0);
    for (let i = full; i < length; i++) pad[i - full] = m[o + i]!;
    polyBlocks(pad, 0, 1);
  }
}

/** Absorbs the lengths block and writes the tag to `out` at `o`. */
function polyFinish(adLength: number, ctLength: number, out: Uint8Array, o: number): void {
  pad.fill(0);
  writeLength(pad, 0, adLength);
  writeLength(pad, 8, ctLength);
  polyBlocks(pad, 0, 1);
  polyTag(out, o);
}

/** Writes the tag, (h mod p) + s mod 2^128, to `out` at `o`. */
function polyTag(out: Uint8Array, o: number): void {
  // Carry until every limb is below 2^13 (h < 2^130); each fold of the top carry lowers h.
  for (;;) {
    let c = 0;
    for (let i = 0; i < 10; i++) {
      const v = polyH[i]! + c;
      c = Math.floor(v / LIMB);
      polyH[i] = v - c * LIMB;
    }
    if (c === 0) break;
    polyH[0]! += c * 5;
  }
  // g = h + 5 - 2^130; it is h mod p when h >= p, that is when h + 5 carries out of bit 130.
  let c = 5;
  for (let i = 0; i < 10; i++) {
    const v = polyH[i]! + c;
    c = v >>> 13;
    polyG[i] = v & 0x1fff;
  }
  const useG = c; // the carry out of bit 130: h + 5 >= 2^130
  for (let i = 0; i < 10; i++) polyH[i] = useG * polyG[i]! + (1 - useG) * polyH[i]!;
  // h as four 32-bit words (bits 128 and 129 are dropped by the mod 2^128), plus s.
  const w0 = (polyH[0]! | (polyH[1]! << 13) | (polyH[2]! << 26)) >>> 0;
  const w1 = ((polyH[2]! >>> 6) | (polyH[3]! << 7) | (polyH[4]! << 20)) >>> 0;
  const w2 = ((polyH[4]! >>> 12) | (polyH[5]! << 1) | (polyH[6]! << 14) | (polyH[7]! << 27)) >>> 0;
  const w3 = ((polyH[7]! >>> 5) | (polyH[8]! << 8) | (polyH[9]! << 21)) >>> 0;
  let sum = w0 + s0;
  writeU32(out, o, sum);
  sum = w1 + s1 + (sum > 0xffffffff ? 1 : 0);
  writeU32(out, o + 4, sum);
  sum = w2 + s2 + (sum > 0xffffffff ? 1 : 0);
  writeU32(out, o + 8, sum);
  sum = w3 + s3 + (sum > 0xffffffff ? 1 : 0);
  writeU32(out, o + 12, sum);
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function writeLength(b: Uint8Array, o: number, n: number): void {
  writeU32(b, o, n >>> 0);
  writeU32(b, o + 4, Math.floor(n / 0x100000000));
}

/**
 * Seals `plaintext` with `ad`: writes ciphertext and tag (`plaintext.length + 16` bytes) into
 * `out` from `offset`. `key` is 32 bytes, `nonce` 12.
 */
export function chacha20poly1305Seal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void {
  setup(key, nonce);
  polyInit();
  xorStream(plaintext, plaintext.length, out, offset);
  polyPadded(ad, 0, ad.length);
  polyPadded(out, offset, plaintext.length);
  polyFinish(ad.length, plaintext.length, out, offset + plaintext.length);
}

// The tag computed on open, compared in constant time.
const expected = new Uint8Array(TAG);

/**
 * Opens `sealed` (ciphertext and tag) with `ad`: the plaintext, or `null` when the tag does not
 * match (nothing is decrypted then) or `sealed` is shorter than a tag.
 */
export function chacha20poly1305Open(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  if (sealed.length < TAG) return null;
  const length = sealed.length - TAG;
  setup(key, nonce);
  polyInit();
  polyPadded(ad, 0, ad.length);
  polyPadded(sealed, 0, length);
  polyFinish(ad.length, length, expected, 0);
  let diff = 0;
  for (let i = 0; i < TAG; i++) diff |= expected[i]! ^ sealed[length + i]!;
  if (diff !== 0) return null;
  const out = new Uint8Array(length);
  xorStream(sealed, length, out, 0);
  return out;
}

/**
 * Poly1305 of `message` (a multiple of 16 bytes, as the AEAD always feeds it) under the 32-byte
 * one-time `key`: the MAC alone, for tests against a reference of the definition.
 */
export function poly1305FullBlocks(key: Uint8Array, message: Uint8Array): Uint8Array {
  if (key.length !== 32 || message.length % 16 !== 0) throw new RangeError('a 32-byte key and whole 16-byte blocks');
  polyKey(u32le(key, 0), u32le(key, 4), u32le(key, 8), u32le(key, 12), u32le(key, 16), u32le(key, 20), u32le(key, 24), u32le(key, 28));
  polyBlocks(message, 0, message.length >> 4);
  const tag = new Uint8Array(TAG);
  polyTag(tag, 0);
  return tag;
}
