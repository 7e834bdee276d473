/**
 * `tcomms/secure-channel`: the Noise secure channel of PROTOCOL.md section 2 on its own, for any
 * Duplex (a socket, a memory pair): `NoiseSecureChannel` with the tcomms profile (XX or IX,
 * BLAKE2s, ChaCha20-Poly1305, the `tcomms-noise-v1` prologue), the encrypted Duplex it returns,
 * and the crypto providers it can run on.
 */
export { NoiseSecureChannel, noiseStaticKeys, DEFAULT_SECURE_CHANNEL_CONFIG, type NoiseSecureChannelInit, type SecureChannel, type SecureOptions } from '../channels/secure-channel.js';
export type { CryptoPolicy } from '../channels/crypto-policy.js';
export { DEFAULT_CRYPTO_POLICY } from '../channels/crypto-policy.js';
export { PeerBanned } from '../channels/errors.js';
export { TurnBudget, DEFAULT_TURN_BYTES, DEFAULT_URGENT_TURN_BYTES, SMALL_READ, type TurnReader } from '../channels/turn-budget.js';
export { cryptoProvider } from '../core/crypto/index.js';
export type { CryptoProvider, CryptoProviderName } from '../core/crypto/provider.js';
export { NodeIdentity, type PublicKey } from '../core/keys.js';
