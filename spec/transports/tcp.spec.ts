import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import { ListenFailed, UnsupportedAddress } from '../../transports/errors.js';
import { transportCompliance } from '../compliance/transport.js';
import { blackhole } from '../support/blackhole.js';
import { closedPort } from '../support/ports.js';

const ONION = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';
const unsupported = [
  multiaddr('/memory/3'),
  multiaddr(`/onion3/${ONION}:80`),
  multiaddr('/ip4/127.0.0.1/tcp/0'),
  multiaddr('/ip4/0.0.0.0/tcp/5'),
  multiaddr('/ip4/127.0.0.1/udp/5'),
];

for (const [family, host] of [
  ['ip4', '127.0.0.1'],
  ['ip6', '::1'],
] as const) {
  const tcp = new TcpTransport();
  transportCompliance(`tcp /${family}`, {
    setup: async () => ({
      dialer: tcp,
      listener: tcp,
      listenAddress: multiaddr(`/${family}/${host}/tcp/0`),
      unreachable: async () => multiaddr(`/${family}/${host}/tcp/${await closedPort(host)}`),
      unsupported,
      hanging: async () => {
        const hole = await blackhole(host);
        return { address: multiaddr(`/${family}/${host}/tcp/${hole.port}`), close: () => hole.close() };
      },
    }),
  });
}

transportCompliance('tcp /dns4 (localhost)', {
  setup: async () => {
    const tcp = new TcpTransport();
    return {
      dialer: tcp,
      listener: tcp,
      listenAddress: multiaddr('/ip4/127.0.0.1/tcp/0'),
      dialAddress: (bound) => multiaddr(`/dns4/localhost/tcp/${bound.getComponents()[1]!.value}`),
      unreachable: async () => multiaddr(`/dns4/localhost/tcp/${await closedPort()}`),
      unsupported,
      hanging: async () => {
        const hole = await blackhole();
        return { address: multiaddr(`/dns4/localhost/tcp/${hole.port}`), close: () => hole.close() };
      },
    };
  },
});

describe('tcp transport', () => {
  it('reports a port in use as ListenFailed (EADDRINUSE)', async () => {
    const tcp = new TcpTransport();
    const first = await tcp.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    try {
      const err = await tcp.listen(first.address).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ListenFailed);
      expect((err as ListenFailed).code).to.equal('EADDRINUSE');
    } finally {
      await first.close();
    }
  });

  it('listens only on IP addresses', async () => {
    const err = await new TcpTransport().listen(multiaddr('/dns4/localhost/tcp/0')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(UnsupportedAddress);
  });

  it('keeps connections it handed out open after the listener closes', async () => {
    const tcp = new TcpTransport();
    const listener = await tcp.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    const it = listener[Symbol.asyncIterator]();
    const inbound = it.next();
    const out = await tcp.dial(listener.address);
    const inb = (await inbound).value!;
    await listener.close();
    const got = new Promise<string>((resolve) => inb.stream.once('data', (d: Buffer) => resolve(d.toString())));
    out.stream.write('still here');
    expect(await got).to.equal('still here');
    expect(String(inb.remoteAddress)).to.match(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/);
    out.stream.destroy();
    inb.stream.destroy();
  });
});
