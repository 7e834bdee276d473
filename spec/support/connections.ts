/** An active connection pair (upgraded both ways) over a memory or TCP transport, for actor tests. */
import { multiaddr } from '@multiformats/multiaddr';
import { PeerConnection, upgradeInbound, upgradeOutbound, type UpgradeConfig } from '../../channels/upgrade.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import type { Transport } from '../../transports/transport.js';
import { testNode } from './nodes.js';

export interface ConnectedPair {
  /** The dialer's connection (to `b`). */
  outbound: PeerConnection;
  /** The listener's connection (to `a`). */
  inbound: PeerConnection;
  a: UpgradeConfig;
  b: UpgradeConfig;
  close(): Promise<void>;
}

/** Upgrades one connection between two fresh nodes (`a` dials `b`). */
export async function connectedPair(
  options: { transport?: Transport; address?: string; a?: Parameters<typeof testNode>[1]; b?: Parameters<typeof testNode>[1] } = {},
): Promise<ConnectedPair> {
  const transport = options.transport ?? new MemoryTransport({ network: new MemoryNetwork() });
  const listener = await transport.listen(multiaddr(options.address ?? '/memory/0'));
  const a = testNode('a', options.a);
  const b = testNode('b', options.b);
  try {
    const accepted = listener[Symbol.asyncIterator]().next().then((r) => upgradeInbound(r.value!.stream, b));
    const dialed = await transport.dial(listener.address);
    const [outbound, inbound] = await Promise.all([upgradeOutbound(dialed.stream, a, { dialedPublicKey: b.identity.publicKey }), accepted]);
    if (!(inbound instanceof PeerConnection)) throw new Error('expected a peer connection');
    return {
      outbound,
      inbound,
      a,
      b,
      close: async () => {
        await Promise.all([outbound.close(), inbound.close()]);
      },
    };
  } finally {
    await listener.close();
  }
}
