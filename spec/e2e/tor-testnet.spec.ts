/**
 * Tor end to end on the private test network: an onion-service listener of ours publishes a
 * real /onion3 address, a TCP-with-Tor dialer reaches it through the client's SOCKS port with
 * bytes flowing both ways, and the address is the same after the listener restarts with its key.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { Socks5Rejected } from '../../protocols/socks5/index.js';
import { TcpWithTorTransport } from '../../transports/tcp-with-tor.js';
import { fileKeyStore } from '../../transports/tor/key-store.js';
import { TorTransport, type OnionListener } from '../../transports/tor/tor-transport.js';
import type { TransportConnection } from '../../transports/transport.js';
import type { Duplex } from 'node:stream';
import { sha } from '../support/streams.js';
import { startTestnet, testnetUnavailable, type TorTestnet } from '../support/tor-testnet.js';
import { skipIfMissing } from '../support/processes.js';

/** Dials an onion address, retrying Tor's "descriptor not found" while it propagates (bounded). */
async function dialOnion(dialer: TcpWithTorTransport, address: Multiaddr, withinMs = 90_000): Promise<TransportConnection> {
  const until = Date.now() + withinMs;
  for (;;) {
    try {
      return await dialer.dial(address, { timeoutMs: 30_000 });
    } catch (err) {
      if (!(err instanceof Socks5Rejected && err.retryable) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Echo every inbound connection's bytes back, then end. */
function serveEcho(listener: OnionListener): void {
  void (async () => {
    for await (const c of listener) {
      c.stream.on('error', () => {});
      c.stream.pipe(c.stream);
    }
  })();
}

/**
 * Reads exactly `n` bytes. Tor streams have no half-close (a FIN from either side becomes a
 * RELAY_END that closes the whole stream), so the echo is read by count, not to the end.
 */
function readBytes(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    stream.on('error', reject);
    stream.on('data', (d: Buffer) => {
      parts.push(d);
      total += d.length;
      if (total >= n) resolve(Buffer.concat(parts));
    });
    stream.on('end', () => reject(new Error(`stream ended after ${total} of ${n} bytes`)));
  });
}

async function roundTrip(dialer: TcpWithTorTransport, address: Multiaddr): Promise<void> {
  const conn = await dialOnion(dialer, address);
  try {
    const payload = randomBytes(256 * 1024);
    const back = readBytes(conn.stream, payload.length);
    conn.stream.write(payload);
    const got = await back;
    expect(got.length).to.equal(payload.length);
    expect(sha(got)).to.equal(sha(payload));
  } finally {
    conn.stream.destroy();
  }
}

describe('Tor end to end on the private test network (../shared/tor-testnet)', function () {
  this.timeout(180_000);
  let net: TorTestnet | undefined;
  let dir: string;

  before(async function () {
    skipIfMissing(this, testnetUnavailable());
    this.timeout(520_000);
    net = await startTestnet((line) => console.log(`      ${line}`));
    dir = mkdtempSync(join(tmpdir(), 'tcomms-tornet-keys-'));
  });

  after(async function () {
    this.timeout(90_000);
    await net?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('publishes an onion service, reaches it through SOCKS both ways, and keeps its address after a restart', async () => {
    const keyFile = join(dir, 'onion.key');
    const control = { host: '127.0.0.1', port: net!.controlPort, auth: { method: 'safecookie' as const, cookieFile: net!.cookieFile } };
    const dialer = new TcpWithTorTransport({ proxy: { host: '127.0.0.1', port: net!.socksPort } });

    const first = new TorTransport({ control, onionPort: 18141, keyStore: fileKeyStore(keyFile) });
    const l1 = (await first.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))) as OnionListener;
    expect(String(l1.address)).to.match(/^\/onion3\/[a-z2-7]{56}:18141$/);
    serveEcho(l1);
    await l1.published();
    await roundTrip(dialer, l1.address);
    const address = String(l1.address);
    await l1.close();
    await first.close();

    const second = new TorTransport({ control, onionPort: 18141, keyStore: fileKeyStore(keyFile) });
    const l2 = (await second.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))) as OnionListener;
    try {
      expect(String(l2.address)).to.equal(address);
      serveEcho(l2);
      await l2.published();
      await roundTrip(dialer, l2.address);
    } finally {
      await l2.close();
      await second.close();
    }
  });

  it('dials through the Tor transport itself, which finds the SOCKS port from Tor', async () => {
    const control = { host: '127.0.0.1', port: net!.controlPort, auth: { method: 'cookie' as const, cookieFile: net!.cookieFile } };
    const server = new TorTransport({ control, onionPort: 80 });
    const client = new TorTransport({ control, onionPort: 80 });
    const listener = (await server.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))) as OnionListener;
    try {
      serveEcho(listener);
      await listener.published();
      const until = Date.now() + 90_000;
      let conn: TransportConnection | undefined;
      while (!conn) {
        try {
          conn = await client.dial(listener.address, { timeoutMs: 30_000 });
        } catch (err) {
          if (!(err instanceof Socks5Rejected && err.retryable) || Date.now() > until) throw err;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      const back = readBytes(conn.stream, 8);
      conn.stream.write('over tor');
      expect((await back).toString()).to.equal('over tor');
      conn.stream.destroy();
    } finally {
      await listener.close();
      await server.close();
      await client.close();
    }
  });
});
