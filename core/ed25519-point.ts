/**
 * Ed25519 public-key validation (PROTOCOL.md section 0): the checks libsodium's
 * `crypto_core_ed25519_is_valid_point` makes, which @stablelib/ed25519 does not.
 * BigInt arithmetic: this runs once per identity, not per packet.
 */
import { InvalidPublicKey } from './errors.js';
import { BoundedMap } from './bounded-map.js';

const P = 2n ** 255n - 19n;
const MASK_255 = (1n << 255n) - 1n;
/** Order of the prime-order subgroup. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = mod(-121665n * inverse(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

interface Point {
  x: bigint;
  y: bigint;
  z: bigint;
  t: bigint;
}

/** a mod p. Non-negative values fold 2^255 = 19 (mod p), which BigInt does faster than `%`. */
function mod(a: bigint): bigint {
  if (a < 0n) {
    const r = a % P;
    return r === 0n ? 0n : r + P;
  }
  while (a > MASK_255) a = (a & MASK_255) + 19n * (a >> 255n);
  return a >= P ? a - P : a;
}

function pow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

/** Modular inverse by the extended Euclidean algorithm (several times faster than a^(p-2) in BigInt). */
function inverse(a: bigint): bigint {
  let r0 = P;
  let r1 = mod(a);
  let t0 = 0n;
  let t1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return mod(t0);
}

/** The little-endian integer in bytes[from, to), with the top bit of the last byte cleared when `clearTopBit`. */
function littleEndian(bytes: Uint8Array, from: number, to: number, clearTopBit: boolean): bigint {
  let n = 0n;
  for (let i = to - 1; i >= from; i--) n = (n << 8n) | BigInt(clearTopBit && i === to - 1 ? bytes[i]! & 0x7f : bytes[i]!);
  return n;
}

const IDENTITY: Point = { x: 0n, y: 1n, z: 1n, t: 0n };

/** Extended-coordinates addition (complete for twisted Edwards with a = -1). */
function add(p: Point, q: Point): Point {
  const a = mod((p.y - p.x) * (q.y - q.x));
  const b = mod((p.y + p.x) * (q.y + q.x));
  const c = mod(2n * D * p.t * q.t);
  const d = mod(2n * p.z * q.z);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return { x: mod(e * f), y: mod(g * h), z: mod(f * g), t: mod(e * h) };
}

/** Extended-coordinates doubling (dbl-2008-hwcd, a = -1): 4 squarings and 4 products, no constant. */
function double(p: Point): Point {
  const a = mod(p.x * p.x);
  const b = mod(p.y * p.y);
  const c = mod(2n * p.z * p.z);
  const d = -a;
  const xy = p.x + p.y;
  const e = mod(xy * xy - a - b);
  const g = d + b;
  const f = g - c;
  const h = d - b;
  return { x: mod(e * f), y: mod(g * h), z: mod(f * g), t: mod(e * h) };
}

function multiply(point: Point, scalar: bigint): Point {
  let result = IDENTITY;
  let addend = point;
  let k = scalar;
  while (k > 0n) {
    if (k & 1n) result = add(result, addend);
    k >>= 1n;
    if (k > 0n) addend = double(addend);
  }
  return result;
}

function isIdentity(p: Point): boolean {
  return mod(p.x) === 0n && mod(p.y - p.z) === 0n;
}

/** Decode a 32-byte encoding; throws {@link InvalidPublicKey} when not canonical or not on the curve. */
function decode(bytes: Uint8Array): Point {
  if (bytes.length !== 32) throw new InvalidPublicKey(`public key must be 32 bytes, got ${bytes.length}`, 'length');
  const y = littleEndian(bytes, 0, 32, true);
  const sign = (bytes[31]! >> 7) & 1;
  if (y >= P) throw new InvalidPublicKey('public key is not canonical (y >= p)', 'non-canonical');
  const y2 = (y * y) % P;
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  // x = u v^3 (u v^7)^((p-5)/8), then fix up with sqrt(-1).
  const v3 = (v * v * v) % P;
  let x = mod(u * v3 * pow(u * v3 * v3 * v, (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === u) {
    // root found
  } else if (vx2 === mod(-u)) {
    x = mod(x * SQRT_M1);
  } else {
    throw new InvalidPublicKey('public key is not a point on the curve', 'not-on-curve');
  }
  if (x === 0n && sign === 1) throw new InvalidPublicKey('public key is not canonical (negative zero x)', 'non-canonical');
  if ((x & 1n) !== BigInt(sign)) x = P - x;
  return { x, y, z: 1n, t: mod(x * y) };
}

/** Keys found valid lately (hex), so a peer that reconnects costs no scalar multiplication. Bounded. */
const validKeys = new BoundedMap<string, true>(4096);
/**
 * Keys found invalid lately (hex) and why: a peer that presents the same bad key again costs a
 * lookup, not the subgroup check (about 1.3 ms each). Bounded, so a stream of fresh bad keys
 * only ever evicts older ones.
 */
const invalidKeys = new BoundedMap<string, { message: string; reason: InvalidPublicKey['reason'] }>(4096);

/**
 * Throw {@link InvalidPublicKey} unless `bytes` is the canonical encoding of a point that is
 * not of small order and lies in the prime-order subgroup.
 */
export function assertValidEd25519PublicKey(bytes: Uint8Array): void {
  const hex = bytes.length === 32 ? Buffer.from(bytes.buffer, bytes.byteOffset, 32).toString('hex') : undefined;
  if (hex !== undefined) {
    if (validKeys.has(hex)) return;
    const known = invalidKeys.get(hex);
    if (known !== undefined) throw new InvalidPublicKey(known.message, known.reason);
  }
  fullChecks++;
  try {
    const point = decode(bytes);
    if (isIdentity(multiply(point, 8n))) throw new InvalidPublicKey('public key is a point of small order', 'small-order');
    if (!isIdentity(multiply(point, L))) throw new InvalidPublicKey('public key is not in the prime-order subgroup', 'mixed-order');
  } catch (err) {
    if (hex !== undefined && err instanceof InvalidPublicKey) invalidKeys.set(hex, { message: err.message, reason: err.reason });
    throw err;
  }
  if (hex !== undefined) validKeys.set(hex, true);
}

let fullChecks = 0;

/** How many keys went through the full check (not answered from the caches) so far: for metrics and tests. */
export function fullKeyChecks(): number {
  return fullChecks;
}

/**
 * The verdict on `bytes` as a public key when it is known without work (a key of another length,
 * or one checked lately): true or false; undefined when only the full check can tell.
 */
export function knownEd25519KeyVerdict(bytes: Uint8Array): boolean | undefined {
  if (bytes.length !== 32) return false;
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, 32).toString('hex');
  if (validKeys.has(hex)) return true;
  return invalidKeys.has(hex) ? false : undefined;
}

/** True when `bytes` is a valid Ed25519 public key per PROTOCOL.md section 0. */
export function isValidEd25519PublicKey(bytes: Uint8Array): boolean {
  try {
    assertValidEd25519PublicKey(bytes);
    return true;
  } catch (err) {
    if (err instanceof InvalidPublicKey) return false;
    throw err;
  }
}

/**
 * The X25519 (Montgomery u) form of a valid Ed25519 public key: u = (1 + y) / (1 - y), from the
 * encoded y alone (the x sign bit does not change u). Meant for validated keys (a `PublicKey`);
 * decompressing it again, as @stablelib's converter does, costs six times more and sat on every
 * dial's handshake path. For any other 32 bytes it gives the bare formula's value (y taken mod
 * p, which is what the cheap comparison with a Noise static key before validation needs).
 */
export function montgomeryUOf(publicKey: Uint8Array): Uint8Array {
  const y = littleEndian(publicKey, 0, 32, true);
  // y = 1 is the identity (rejected by validation); guard anyway: 1 - y = 0 has no inverse.
  const denominator = mod(1n - y);
  let u = denominator === 0n ? 0n : mod((1n + y) * inverse(denominator));
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}

/**
 * Whether `u` (32 bytes, an X25519 public key as Noise carries it) is exactly
 * {@link montgomeryUOf}(`publicKey`), without the field inversion: u = (1 + y) / (1 - y) holds
 * for a canonical u (below p) exactly when u * (1 - y) = 1 + y (mod p). A few microseconds
 * where the inversion costs about 40: the identity check runs it once per connection and side.
 */
export function montgomeryUMatches(publicKey: Uint8Array, u: Uint8Array): boolean {
  if (publicKey.length !== 32 || u.length !== 32) return false;
  const value = littleEndian(u, 0, 32, false);
  if (value >= P) return false; // montgomeryUOf gives canonical bytes only
  const y = littleEndian(publicKey, 0, 32, true);
  const denominator = mod(1n - y);
  if (denominator === 0n) return value === 0n;
  return mod(value * denominator) === mod(1n + y);
}

/**
 * The checks libsodium makes on a signature before verifying it (crypto_sign_verify_detached):
 * S < L, and R canonical (y < p) and not of small order. Undefined when they pass, otherwise
 * what failed.
 */
export function ed25519SignatureProblem(signature: Uint8Array): string | undefined {
  if (signature.length !== 64) return `a signature is 64 bytes, got ${signature.length}`;
  if (littleEndian(signature, 32, 64, false) >= L) return 'S is not reduced (S >= L)';
  const r = signature.subarray(0, 32);
  if (littleEndian(r, 0, 32, true) >= P) return 'R is not canonical';
  let point: Point;
  try {
    point = decode(r);
  } catch {
    return undefined; // not on the curve: the verification equation cannot hold, it fails there
  }
  if (isIdentity(multiply(point, 8n))) return 'R is a point of small order';
  return undefined;
}

/**
 * The same verdicts as {@link ed25519SignatureProblem} followed by cofactorless verification,
 * without decompressing R, when the public key is already known valid (canonical, prime order):
 * then [S]B - [k]A lies in the prime-order subgroup, so of the small-order R only the identity
 * can ever satisfy the equation, and the other small-order encodings fail verification anyway.
 * Checks S < L, R canonical (y < p) and R not the identity (y = 1, either sign bit).
 */
export function ed25519SignatureProblemForValidKey(signature: Uint8Array): string | undefined {
  if (signature.length !== 64) return `a signature is 64 bytes, got ${signature.length}`;
  if (littleEndian(signature, 32, 64, false) >= L) return 'S is not reduced (S >= L)';
  const y = littleEndian(signature, 0, 32, true);
  if (y >= P) return 'R is not canonical';
  if (y === 1n) return 'R is a point of small order';
  return undefined;
}
