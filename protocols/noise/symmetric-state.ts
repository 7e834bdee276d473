/** Noise SymmetricState (specification section 5.2) over BLAKE2s. */
import { HASH_LENGTH, hkdf, type CryptoProvider } from '../../core/crypto/provider.js';
import { CipherState } from './cipher-state.js';

/** The Noise SymmetricState: chaining key, handshake hash and the cipher state between them. */
export class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  readonly cipher: CipherState;

  constructor(readonly provider: CryptoProvider, protocolName: string | { ck: Uint8Array; h: Uint8Array }) {
    this.cipher = new CipherState(provider);
    if (typeof protocolName === 'string') {
      const name = new TextEncoder().encode(protocolName);
      if (name.length <= HASH_LENGTH) {
        this.h = new Uint8Array(HASH_LENGTH);
        this.h.set(name);
      } else {
        this.h = provider.hash(name);
      }
      this.ck = this.h;
    } else {
      this.ck = protocolName.ck;
      this.h = protocolName.h;
    }
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.provider, this.ck, ikm, 2);
    this.ck = ck!;
    this.cipher.initializeKey(k);
  }

  mixHash(data: Uint8Array): void {
    this.h = this.provider.hash(this.h, data);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.cipher.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** The two transport keys: the initiator's sending key first. */
  split(): [Uint8Array, Uint8Array] {
    const [k1, k2] = hkdf(this.provider, this.ck, new Uint8Array(0), 2);
    return [k1!, k2!];
  }
}
