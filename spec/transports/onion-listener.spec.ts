import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { parseAddress } from '../../core/address.js';
import { ConfigError } from '../../core/errors.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import { TorControlClient } from '../../transports/tor/control-client.js';
import { fileKeyStore, memoryKeyStore } from '../../transports/tor/key-store.js';
import { firstSocksListener, OnionListener, TorTransport } from '../../transports/tor/tor-transport.js';
import { requireProgram } from '../support/processes.js';
import { startTor, type TorDaemon } from '../support/tor.js';

describe('onion-service listener against a real tor (DisableNetwork 1)', function () {
  this.timeout(30_000);
  let tor: TorDaemon;
  let dir: string;
  before(async function () {
    requireProgram(this, 'tor');
    tor = await startTor();
    dir = mkdtempSync(join(tmpdir(), 'tcomms-onion-'));
  });
  after(async () => {
    await tor?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const onions = async (c: TorControlClient) => (await c.getInfo('onions/current')).get('onions/current') ?? '';

  it('publishes /onion3/<id>:<port>, forwards to its local port, and removes the service on close', async () => {
    const control = await TorControlClient.connect({ host: tor.host, port: tor.controlPort });
    const transport = new TorTransport({ control, onionPort: 18141, socks: { host: '127.0.0.1', port: 9 } });
    const listener = (await transport.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))) as OnionListener;
    try {
      const parsed = parseAddress(listener.address);
      expect(parsed.kind).to.equal('onion3');
      expect(parsed).to.include({ port: 18141, serviceId: listener.serviceId });
      expect(await onions(control)).to.include(listener.serviceId);
      // Tor forwards to the local listener; a local connection reaches the same accept loop.
      const inbound = listener[Symbol.asyncIterator]().next();
      const out = await new TcpTransport().dial(listener.localAddress);
      const { value } = await inbound;
      expect(value!.via, 'its remote address is Tor, not the peer').to.equal('onion');
      expect(out.via).to.equal('tcp');
      out.stream.end('hello');
      const got = await new Promise<string>((resolve) => value!.stream.once('data', (d: Buffer) => resolve(d.toString())));
      expect(got).to.equal('hello');
      out.stream.destroy();
      value!.stream.destroy();
    } finally {
      await listener.close();
    }
    expect(await onions(control)).to.not.include(listener.serviceId);
    await listener.close(); // idempotent
    await control.close();
  });

  it('keeps its address across restarts with the saved key (file store, mode 0600)', async () => {
    const keyFile = join(dir, 'onion.key');
    const control = { host: tor.host, port: tor.controlPort };
    const first = new TorTransport({ control, onionPort: 9999, keyStore: fileKeyStore(keyFile), socks: { host: '127.0.0.1', port: 9 } });
    const l1 = await first.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    const address = String(l1.address);
    await l1.close();
    await first.close();
    expect(statSync(keyFile).mode & 0o777).to.equal(0o600);
    expect(readFileSync(keyFile, 'utf8')).to.match(/^ED25519-V3:/);
    const second = new TorTransport({ control, onionPort: 9999, keyStore: fileKeyStore(keyFile), socks: { host: '127.0.0.1', port: 9 } });
    const l2 = await second.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    expect(String(l2.address)).to.equal(address);
    expect(String((l2 as OnionListener).localAddress)).to.not.equal(String((l1 as OnionListener).localAddress));
    await l2.close();
    await second.close();
  });

  it('refuses a corrupted key file without replacing it', async () => {
    const keyFile = join(dir, 'bad.key');
    writeFileSync(keyFile, 'not a key\n');
    const t = new TorTransport({ control: { host: tor.host, port: tor.controlPort }, onionPort: 80, keyStore: fileKeyStore(keyFile) });
    expect(await t.listen(multiaddr('/ip4/127.0.0.1/tcp/0')).catch((e: unknown) => e)).to.be.instanceOf(ConfigError);
    expect(readFileSync(keyFile, 'utf8')).to.equal('not a key\n');
    await t.close();
  });

  it('gives a new address per listen without a key store, and one per key', async () => {
    const t = new TorTransport({ control: { host: tor.host, port: tor.controlPort }, onionPort: 80 });
    const [a, b] = [await t.listen(multiaddr('/ip4/127.0.0.1/tcp/0')), await t.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))];
    expect(String(a.address)).to.not.equal(String(b.address));
    await a.close();
    await b.close();
    await t.close();
    const store = memoryKeyStore();
    const keyed = new TorTransport({ control: { host: tor.host, port: tor.controlPort }, onionPort: 80, keyStore: store });
    const c = await keyed.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    expect(store.key).to.match(/^ED25519-V3:/);
    await c.close();
    const d = await keyed.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    expect(String(d.address)).to.equal(String(c.address));
    await d.close();
    await keyed.close();
  });

  it('reads the SOCKS listener from Tor when none is configured', () => {
    expect(firstSocksListener('"127.0.0.1:9050"')).to.deep.equal({ host: '127.0.0.1', port: 9050 });
    expect(firstSocksListener('"[::1]:9150" "127.0.0.1:9050"')).to.deep.equal({ host: '::1', port: 9150 });
    expect(() => firstSocksListener('')).to.throw(ConfigError);
  });
});
