/** Both crypto providers, for tests that run against each. */
import { nativeProvider, stablelibProvider, type CryptoProvider } from '../../core/crypto/index.js';

export const PROVIDERS: readonly CryptoProvider[] = [stablelibProvider, nativeProvider];
