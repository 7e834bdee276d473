export * from './provider.js';
export { stablelibProvider } from './stablelib.js';
export { nativeProvider, nodeCryptoProvider, SMALL_AEAD_BYTES } from './native.js';
import { ConfigError } from '../errors.js';
import { nativeProvider } from './native.js';
import type { CryptoProvider, CryptoProviderName } from './provider.js';
import { stablelibProvider } from './stablelib.js';

/** The provider with the given name. */
export function cryptoProvider(name: CryptoProviderName): CryptoProvider {
  if (name === 'native') return nativeProvider;
  if (name === 'stablelib') return stablelibProvider;
  throw new ConfigError(`unknown crypto provider ${JSON.stringify(name)}`);
}
