/** Noise CipherState (specification section 5.1) with a 64-bit nonce kept as two u32 halves. */
import { NONCE_LENGTH, type CryptoProvider } from '../../core/crypto/provider.js';
import { HandshakeMisuse, NonceExhausted } from './errors.js';

const EMPTY = new Uint8Array(0);
const U32 = 0x1_0000_0000;

/** Encrypts or decrypts with a key and an incrementing 64-bit nonce. */
export class CipherState {
  #key: Uint8Array | undefined;
  #lo = 0;
  #hi = 0;
  /** The 12-byte IETF nonce: 4 zero bytes then the counter little-endian, updated in place. */
  readonly #nonce = new Uint8Array(NONCE_LENGTH);
  readonly #view = new DataView(this.#nonce.buffer);

  constructor(readonly provider: CryptoProvider, key?: Uint8Array) {
    this.#key = key;
  }

  /** True once a key is set. */
  hasKey(): boolean {
    return this.#key !== undefined;
  }

  /** Set the key and reset the nonce to 0. */
  initializeKey(key: Uint8Array | undefined): void {
    this.#key = key;
    this.nonce = 0n;
  }

  /** The key, for handing the state to a worker (never log it). */
  get key(): Uint8Array | undefined {
    return this.#key;
  }

  /** The next nonce to use. */
  get nonce(): bigint {
    return (BigInt(this.#hi) << 32n) | BigInt(this.#lo);
  }

  set nonce(value: bigint) {
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new HandshakeMisuse('nonce out of range');
    this.#lo = Number(value & 0xffff_ffffn);
    this.#hi = Number(value >> 32n);
  }

  /** Writes the current nonce into the IETF nonce buffer and advances; throws NonceExhausted at 2^64-1. */
  #take(): Uint8Array {
    if (this.#hi === 0xffff_ffff && this.#lo === 0xffff_ffff) throw new NonceExhausted();
    this.#view.setUint32(4, this.#lo, true);
    this.#view.setUint32(8, this.#hi, true);
    this.#lo += 1;
    if (this.#lo === U32) {
      this.#lo = 0;
      this.#hi += 1;
    }
    return this.#nonce;
  }

  /** EncryptWithAd: ciphertext || tag, or the plaintext itself when no key is set. */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.#key === undefined) return plaintext;
    return this.provider.aeadSeal(this.#key, this.#take(), ad, plaintext);
  }

  /** DecryptWithAd; throws DecryptionFailed. The nonce advances only on success. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.#key === undefined) return ciphertext;
    const key = this.#key;
    return this.#opening((nonce) => this.provider.aeadOpen(key, nonce, ad, ciphertext));
  }

  /** Runs `open` with the next nonce, which is used up only when `open` succeeds. */
  #opening<T>(open: (nonce: Uint8Array) => T): T {
    const before = this.nonce;
    try {
      return open(this.#take());
    } catch (err) {
      this.nonce = before;
      throw err;
    }
  }

  /** Transport seal without associated data, returning wire chunks with `prefix` free bytes first. */
  sealParts(plaintext: Uint8Array, prefix: number): Uint8Array[] {
    if (this.#key === undefined) throw new HandshakeMisuse('transport cipher has no key');
    return this.provider.aeadSealParts(this.#key, this.#take(), plaintext, prefix);
  }

  /** {@link sealParts} of the concatenation of `pieces` (one message). */
  sealPieces(pieces: readonly Uint8Array[], prefix: number): Uint8Array[] {
    if (this.#key === undefined) throw new HandshakeMisuse('transport cipher has no key');
    return this.provider.aeadSealPieces(this.#key, this.#take(), pieces, prefix);
  }

  /** Transport open without associated data. */
  open(sealed: Uint8Array): Uint8Array {
    return this.decryptWithAd(EMPTY, sealed);
  }

  /** Transport open of one message given in pieces; plaintext in pieces. The nonce advances only on success. */
  openPieces(pieces: readonly Uint8Array[]): Uint8Array[] {
    if (this.#key === undefined) throw new HandshakeMisuse('transport cipher has no key');
    const key = this.#key;
    return this.#opening((nonce) => this.provider.aeadOpenPieces(key, nonce, pieces));
  }
}
