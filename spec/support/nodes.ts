/** Node configurations for connection tests: a fresh identity, its Noise channel and a simple claim. */
import { addressToBytes, parseAddress } from '../../core/address.js';
import { NodeIdentity } from '../../core/keys.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import type { UpgradeConfig } from '../../channels/upgrade.js';

export interface TestNodeOptions extends Partial<UpgradeConfig> {
  networkByte?: number;
  /** Addresses claimed in the identity (default one loopback address). */
  addresses?: string[];
}

export function testNode(name: string, over: TestNodeOptions = {}): UpgradeConfig {
  const { networkByte, addresses, ...rest } = over;
  const identity = rest.identity ?? NodeIdentity.generate();
  return {
    identity,
    channel: new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), networkByte: networkByte ?? 0x00 }),
    identityContent: () => ({
      addresses: (addresses ?? ['/ip4/127.0.0.1/tcp/18141']).map((a) => addressToBytes(parseAddress(a))),
      features: 1,
      supportedProtocols: ['/test/echo/1'],
      userAgent: name,
      updatedAt: BigInt(Math.floor(Date.now() / 1000)),
    }),
    identityTimeoutMs: 3000,
    timeToFirstByteMs: 3000,
    ...rest,
  };
}
