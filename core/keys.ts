/**
 * Node identity and identifiers (PROTOCOL.md section 0): an Ed25519 key pair, its X25519
 * form as the Noise static key, the 13-byte NodeId and XOR distance.
 */
import { hash as blake2s } from '@stablelib/blake2s';
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { ed25519PrivateKey, ed25519PublicKeyOf, ed25519Sign } from './ed25519.js';
import { fromHex, toHex } from './bytes.js';
import { assertValidEd25519PublicKey, montgomeryUOf } from './ed25519-point.js';
import { ConfigError } from './errors.js';
import { BoundedMap } from './bounded-map.js';

/** Bytes in a NodeId (the first 13 bytes of BLAKE2s-256 of the public key). */
export const NODE_ID_LENGTH = 13;
/** Bytes in an Ed25519 public key. */
export const PUBLIC_KEY_LENGTH = 32;
/** Bytes in an Ed25519 seed. */
export const SEED_LENGTH = 32;

declare const publicKeyBrand: unique symbol;
declare const nodeIdBrand: unique symbol;
declare const distanceBrand: unique symbol;

/** A 32-byte Ed25519 public key that passed validation. */
export type PublicKey = Uint8Array & { readonly [publicKeyBrand]: true };
/** A 13-byte NodeId. */
export type NodeId = Uint8Array & { readonly [nodeIdBrand]: true };
/** The XOR of two NodeIds, ordered as a 104-bit big-endian unsigned integer. */
export type NodeDistance = Uint8Array & { readonly [distanceBrand]: true };

/** Validate and brand a public key (throws InvalidPublicKey). */
export function toPublicKey(bytes: Uint8Array): PublicKey {
  assertValidEd25519PublicKey(bytes);
  return Uint8Array.from(bytes) as PublicKey;
}

/** Brand 13 bytes as a NodeId (throws a ConfigError on another length). */
export function toNodeId(bytes: Uint8Array): NodeId {
  if (bytes.length !== NODE_ID_LENGTH) throw new ConfigError(`a NodeId is ${NODE_ID_LENGTH} bytes, got ${bytes.length}`);
  return Uint8Array.from(bytes) as NodeId;
}

/** NodeId of a public key: the first 13 bytes of unkeyed BLAKE2s-256. */
export function nodeIdOf(publicKey: Uint8Array): NodeId {
  return blake2s(publicKey, 32).subarray(0, NODE_ID_LENGTH) as NodeId;
}

/** XOR distance between two NodeIds. */
export function distance(a: NodeId, b: NodeId): NodeDistance {
  const out = new Uint8Array(NODE_ID_LENGTH);
  for (let i = 0; i < NODE_ID_LENGTH; i++) out[i] = a[i]! ^ b[i]!;
  return out as NodeDistance;
}

/** Compare two distances (or NodeIds) as big-endian unsigned integers: -1, 0 or 1. */
export function compareDistance(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  for (let i = 0; i < NODE_ID_LENGTH; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The X25519 form of a (validated) Ed25519 public key: the birational map u = (1+y)/(1-y). */
export function x25519PublicOf(publicKey: PublicKey): Uint8Array {
  return Uint8Array.from(x25519Forms.getOrSet(toHex(publicKey), () => montgomeryUOf(publicKey)));
}

/** X25519 forms of keys seen lately (a reconnecting peer's costs a lookup). Bounded. */
const x25519Forms = new BoundedMap<string, Uint8Array>(1024);

/** A node's identity: its Ed25519 key pair, derived ids and the Noise static key. */
export class NodeIdentity {
  /** Ed25519 public key. */
  readonly publicKey: PublicKey;
  /** NodeId of {@link publicKey}. */
  readonly nodeId: NodeId;
  /** X25519 form of the public key: the Noise static public key. */
  readonly noisePublicKey: Uint8Array;
  readonly #noiseSecretKey: Uint8Array;
  readonly #privateKey: KeyObject;
  readonly #seed: Uint8Array;

  private constructor(seed: Uint8Array) {
    this.#seed = Uint8Array.from(seed);
    this.#privateKey = ed25519PrivateKey(this.#seed);
    const publicKey = ed25519PublicKeyOf(this.#privateKey) as PublicKey;
    this.publicKey = publicKey;
    this.nodeId = nodeIdOf(publicKey);
    this.noisePublicKey = montgomeryUOf(publicKey);
    // RFC 8032 / libsodium crypto_sign_ed25519_sk_to_curve25519: the clamped first half of SHA-512(seed).
    const h = createHash('sha512').update(this.#seed).digest();
    const secret = Uint8Array.from(h.subarray(0, 32));
    secret[0]! &= 248;
    secret[31]! &= 127;
    secret[31]! |= 64;
    this.#noiseSecretKey = secret;
  }

  /** The identity of a 32-byte seed. */
  static fromSeed(seed: Uint8Array): NodeIdentity {
    if (seed.length !== SEED_LENGTH) throw new ConfigError(`an identity seed is ${SEED_LENGTH} bytes, got ${seed.length}`);
    return new NodeIdentity(seed);
  }

  /** A fresh random identity. */
  static generate(): NodeIdentity {
    return new NodeIdentity(randomBytes(SEED_LENGTH));
  }

  /** Ed25519 signature (RFC 8032) of `message` by this identity. */
  sign(message: Uint8Array): Uint8Array {
    return ed25519Sign(this.#privateKey, message);
  }

  /** X25519 form of the secret key (clamped): the Noise static secret key. Never log it. */
  noiseStaticSecret(): Uint8Array {
    return Uint8Array.from(this.#noiseSecretKey);
  }

  /** The seed, for saving the identity to a key file. Never log it. */
  exportSeed(): Uint8Array {
    return Uint8Array.from(this.#seed);
  }

  /** Hex NodeId, for printing. */
  toString(): string {
    return `NodeIdentity(${toHex(this.nodeId)})`;
  }
}

/** Parse a hex public key and validate it. */
export function publicKeyFromHex(hex: string): PublicKey {
  return toPublicKey(fromHex(hex));
}
