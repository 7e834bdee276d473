import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { ConnectionRefused, ListenFailed } from '../../transports/errors.js';
import { transportCompliance } from '../compliance/transport.js';

const network = new MemoryNetwork();
transportCompliance('memory', {
  setup: async () => {
    const memory = new MemoryTransport({ network });
    return {
      dialer: memory,
      listener: memory,
      listenAddress: multiaddr('/memory/0'),
      unreachable: async () => multiaddr('/memory/999999'),
      unsupported: [multiaddr('/ip4/127.0.0.1/tcp/1'), multiaddr('/memory/0'), multiaddr('/dns4/a.b/tcp/1')],
    };
  },
});

describe('memory transport', () => {
  it('keeps networks apart and refuses a taken id', async () => {
    const a = new MemoryTransport({ network: new MemoryNetwork() });
    const b = new MemoryTransport({ network: new MemoryNetwork() });
    const listener = await a.listen(multiaddr('/memory/42'));
    try {
      expect(await b.dial(multiaddr('/memory/42')).catch((e: unknown) => e)).to.be.instanceOf(ConnectionRefused);
      expect(await a.listen(multiaddr('/memory/42')).catch((e: unknown) => e)).to.be.instanceOf(ListenFailed);
    } finally {
      await listener.close();
    }
    const again = await a.listen(multiaddr('/memory/42'));
    await again.close();
  });

  it('holds hundreds of listeners in one process', async () => {
    const net = new MemoryNetwork();
    const t = new MemoryTransport({ network: net });
    const listeners = await Promise.all(Array.from({ length: 500 }, () => t.listen(multiaddr('/memory/0'))));
    expect(new Set(listeners.map((l) => String(l.address))).size).to.equal(500);
    expect(net.size).to.equal(500);
    await Promise.all(listeners.map((l) => l.close()));
    expect(net.size).to.equal(0);
  });
});
