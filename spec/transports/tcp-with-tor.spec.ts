import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import { OnionProxyMissing, TcpWithTorTransport } from '../../transports/tcp-with-tor.js';
import { UnsupportedAddress } from '../../transports/errors.js';
import { Socks5Rejected } from '../../protocols/socks5/index.js';
import { transportCompliance } from '../compliance/transport.js';
import { blackhole, silentServer } from '../support/blackhole.js';
import { closedPort } from '../support/ports.js';
import { requireProgram, startMicrosocks, type Microsocks } from '../support/processes.js';

const ONION = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';

describe('tcp-with-tor', function () {
  let proxy: Microsocks | undefined;
  before(async function () {
    requireProgram(this, 'microsocks');
    proxy = await startMicrosocks();
  });
  after(async () => proxy?.stop());

  for (const proxyAll of [false, true]) {
    transportCompliance(`tcp-with-tor (${proxyAll ? 'everything through the proxy' : 'direct TCP, onion through the proxy'})`, {
      setup: async () => {
        const t = new TcpWithTorTransport({ proxy: { host: proxy!.host, port: proxy!.port }, proxyAll });
        return {
          dialer: t,
          listener: t,
          listenAddress: multiaddr('/ip4/127.0.0.1/tcp/0'),
          unreachable: async () => multiaddr(`/ip4/127.0.0.1/tcp/${await closedPort()}`),
          unsupported: [multiaddr('/memory/1'), multiaddr(`/onion3/${ONION.replace('p', 'q')}:1`), multiaddr('/ip6/::/tcp/1')],
          ...(proxyAll
            ? {
                halfClose: false,
                hanging: async () => {
                  // A proxy that accepts and never answers.
                  const silent = await silentServer();
                  return {
                    address: multiaddr('/ip4/127.0.0.1/tcp/1'),
                    dialer: new TcpWithTorTransport({ proxy: { host: '127.0.0.1', port: silent.port }, proxyAll: true }),
                    close: () => silent.close(),
                  };
                },
              }
            : {
                hanging: async () => {
                  const hole = await blackhole();
                  return { address: multiaddr(`/ip4/127.0.0.1/tcp/${hole.port}`), close: () => hole.close() };
                },
              }),
        };
      },
    });
  }

  it('sends onion addresses to the proxy', async () => {
    const t = new TcpWithTorTransport({ proxy: { host: proxy!.host, port: proxy!.port } });
    // microsocks cannot resolve .onion: the refusal comes from the proxy, so the proxy was asked.
    const err = await t.dial(multiaddr(`/onion3/${ONION}:80`), { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Socks5Rejected);
  });

  it('fails an onion dial with no proxy configured with a clear OnionProxyMissing', async () => {
    const t = new TcpWithTorTransport();
    expect(t.canDial(multiaddr(`/onion3/${ONION}:80`))).to.equal(false);
    const err = await t.dial(multiaddr(`/onion3/${ONION}:80`)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OnionProxyMissing);
    expect((err as Error).message).to.match(/needs a SOCKS5 proxy/);
    const bad = await t.dial(multiaddr('/ip4/127.0.0.1/tcp/0')).catch((e: unknown) => e);
    expect(bad).to.be.instanceOf(UnsupportedAddress);
  });
});
