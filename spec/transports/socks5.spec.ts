import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import { parseProxyUrl, Socks5ProxyUnreachable, Socks5Transport } from '../../transports/socks5/socks5.js';
import { Socks5AuthFailed, Socks5NoAcceptableMethod, Socks5Rejected } from '../../protocols/socks5/index.js';
import { ConfigError } from '../../core/errors.js';
import { transportCompliance } from '../compliance/transport.js';
import { silentServer } from '../support/blackhole.js';
import { closedPort } from '../support/ports.js';
import { requireProgram, startMicrosocks, type Microsocks } from '../support/processes.js';

const ONION = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';
const AUTH = { username: 'tcomms', password: 's3cret pass' };

function requireMicrosocks(this: Mocha.Context): void {
  requireProgram(this, 'microsocks');
}

for (const auth of [undefined, AUTH]) {
  let proxy: Microsocks | undefined;
  const label = auth ? 'username/password' : 'no auth';
  describe(`socks5 through microsocks (${label})`, function () {
    before(requireMicrosocks);
    transportCompliance(`socks5 (microsocks, ${label})`, {
      setup: async () => {
        proxy = await startMicrosocks(auth);
        const tcp = new TcpTransport();
        return {
          dialer: new Socks5Transport({ proxy: { host: proxy.host, port: proxy.port, ...auth } }),
          listener: tcp,
          listenAddress: multiaddr('/ip4/127.0.0.1/tcp/0'),
          // A name, resolved by the proxy rather than here.
          dialAddress: (bound) => multiaddr(`/dns4/localhost/tcp/${bound.getComponents()[1]!.value}`),
          unreachable: async () => multiaddr(`/ip4/127.0.0.1/tcp/${await closedPort()}`),
          unsupported: [multiaddr('/memory/4'), multiaddr('/ip4/127.0.0.1/tcp/0')],
          hanging: async () => {
            // A "proxy" that accepts and never answers: the SOCKS exchange must time out.
            const silent = await silentServer();
            return {
              address: multiaddr('/ip4/127.0.0.1/tcp/1'),
              dialer: new Socks5Transport({ proxy: { host: '127.0.0.1', port: silent.port, ...auth } }),
              close: () => silent.close(),
            };
          },
          halfClose: false, // microsocks does not pass a half-close on
        };
      },
      teardown: async () => proxy?.stop(),
    });
  });
}

describe('socks5 transport', function () {
  this.timeout(20_000);
  let open: Microsocks | undefined;
  let authed: Microsocks | undefined;
  before(async function () {
    requireMicrosocks.call(this);
    open = await startMicrosocks();
    authed = await startMicrosocks(AUTH);
  });
  after(async () => {
    await open?.stop();
    await authed?.stop();
  });

  const target = async () => {
    const tcp = new TcpTransport();
    const listener = await tcp.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    return listener;
  };

  it('fails with Socks5AuthFailed on a wrong password', async () => {
    const listener = await target();
    try {
      const t = new Socks5Transport({ proxy: { host: authed!.host, port: authed!.port, username: 'tcomms', password: 'wrong' } });
      const err = await t.dial(listener.address).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Socks5AuthFailed);
      expect((err as Socks5AuthFailed).kind).to.equal('config');
    } finally {
      await listener.close();
    }
  });

  it('fails with Socks5NoAcceptableMethod when the proxy needs a password and none is configured', async () => {
    const listener = await target();
    try {
      const t = new Socks5Transport({ proxy: { host: authed!.host, port: authed!.port } });
      expect(await t.dial(listener.address).catch((e: unknown) => e)).to.be.instanceOf(Socks5NoAcceptableMethod);
    } finally {
      await listener.close();
    }
  });

  it('turns the proxy reply code into Socks5Rejected (connection refused, host unreachable)', async () => {
    const t = new Socks5Transport({ proxy: { host: open!.host, port: open!.port } });
    const refused = await t.dial(multiaddr(`/ip4/127.0.0.1/tcp/${await closedPort()}`)).catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(Socks5Rejected);
    expect((refused as Socks5Rejected).code).to.equal(0x05);
    // An onion name cannot be resolved by microsocks: the proxy, not this process, tried.
    const onion = await t.dial(multiaddr(`/onion3/${ONION}:80`), { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(onion).to.be.instanceOf(Socks5Rejected);
    expect((onion as Socks5Rejected).kind).to.equal('transport');
  });

  it('reports a proxy that is not running as Socks5ProxyUnreachable', async () => {
    const t = new Socks5Transport({ proxy: { host: '127.0.0.1', port: await closedPort() } });
    const err = await t.dial(multiaddr('/ip4/127.0.0.1/tcp/80')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Socks5ProxyUnreachable);
    expect((err as Socks5ProxyUnreachable).kind).to.equal('transport');
  });

  it('validates its configuration and parses proxy URLs', () => {
    expect(() => new Socks5Transport({ proxy: { host: 'h', port: 0 } })).to.throw(ConfigError);
    expect(() => new Socks5Transport({ proxy: { host: 'h', port: 1, username: 'u' } })).to.throw(ConfigError);
    expect(() => new Socks5Transport({ proxy: { host: 'h', port: 1, username: 'u', password: 'x'.repeat(256) } })).to.throw(ConfigError);
    expect(parseProxyUrl('socks5://127.0.0.1:9050')).to.deep.equal({ host: '127.0.0.1', port: 9050 });
    expect(parseProxyUrl('socks5://a%40b:p%3Aw@[::1]:1080')).to.deep.equal({ host: '::1', port: 1080, username: 'a@b', password: 'p:w' });
    expect(() => parseProxyUrl('http://127.0.0.1:1')).to.throw(ConfigError);
    expect(() => parseProxyUrl('socks5://127.0.0.1')).to.throw(ConfigError);
  });
});
