/** Both crypto providers, for tests that run against each. */
import { nativeProvider, nodeCryptoProvider, stablelibProvider, type CryptoProvider } from '../../core/crypto/index.js';

export const PROVIDERS: readonly CryptoProvider[] = [stablelibProvider, nativeProvider];

/** Also pure node:crypto (the default provider runs small AEAD in @stablelib). */
export const ALL_PROVIDERS: readonly CryptoProvider[] = [...PROVIDERS, nodeCryptoProvider];
