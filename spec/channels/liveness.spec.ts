import { expect } from 'chai';
import fc from 'fast-check';
import { once } from 'node:events';
import { multiaddr } from '@multiformats/multiaddr';
import { NodeIdentity } from '../../core/keys.js';
import { LivenessCheckFailed, livenessCheck, LivenessService, type LivenessEnd } from '../../channels/liveness.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import { upgradeInbound, type LivenessRequest, type UpgradeConfig } from '../../channels/upgrade.js';
import { LineEcho, LivenessLineTooLong } from '../../protocols/liveness/index.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import type { TransportListener } from '../../transports/transport.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { splitAt } from '../support/streams.js';
import { until } from '../support/wait.js';

const identity = NodeIdentity.generate();
/** Sockets are half-open capable: the server's close shows as the end of the stream. */
const ended = (stream: NodeJS.EventEmitter) => Promise.race([once(stream, 'end'), once(stream, 'close')]);
const config: UpgradeConfig = {
  identity,
  channel: new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity) }),
  identityContent: () => ({ addresses: [], features: 0, supportedProtocols: [], userAgent: 'x', updatedAt: 0n }),
};

describe('liveness mode (PROTOCOL.md section 7)', function () {
  this.timeout(10_000);
  /** The transport, remembering what it dialed so that every socket is destroyed after each test. */
  const dialed: Array<{ destroy(): void }> = [];
  const tcp = new (class extends TcpTransport {
    override async dial(...args: Parameters<TcpTransport['dial']>) {
      const c = await super.dial(...args);
      dialed.push(c.stream);
      return c;
    }
  })();
  let listener: TransportListener;
  let service: LivenessService;
  let ends: LivenessEnd[];

  const serveWith = (s: LivenessService) => {
    service = s;
    void (async () => {
      for await (const c of listener) {
        void (async () => {
          const r = await upgradeInbound(c.stream, config).catch(() => undefined);
          if (r && 'kind' in r) ends.push(await service.serve((r as LivenessRequest).raw, (c.stream as unknown as { remoteAddress?: string }).remoteAddress));
        })();
      }
    })();
  };

  beforeEach(async () => {
    ends = [];
    listener = await tcp.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
  });
  afterEach(async () => {
    for (const s of dialed.splice(0)) s.destroy();
    await listener.close();
  });

  it('echoes a line: the self-check measures the round trip', async () => {
    serveWith(new LivenessService());
    const { stream } = await tcp.dial(listener.address);
    const rtt = await livenessCheck(stream);
    expect(rtt).to.be.a('number').and.greaterThan(0);
  });

  it('echoes every line however it is chunked, and ends a session on a line over 50 bytes', async () => {
    serveWith(new LivenessService());
    const { stream } = await tcp.dial(listener.address);
    const got: Buffer[] = [];
    stream.on('data', (d: Buffer) => got.push(d));
    stream.write(Uint8Array.of(0xa7));
    stream.write('one\ntw');
    stream.write('o\n');
    await new Promise((r) => setTimeout(r, 100));
    expect(Buffer.concat(got).toString()).to.equal('one\ntwo\n');
    stream.write('x'.repeat(51) + '\n');
    await ended(stream);
    await new Promise((r) => setTimeout(r, 20));
    expect(ends).to.deep.equal(['line-too-long']);
  });

  it('ends an idle session, refuses an address off the allow-list and a session over the bound, without writing', async () => {
    serveWith(new LivenessService({ idleTimeoutMs: 100 }));
    const first = await tcp.dial(listener.address);
    first.stream.write(Uint8Array.of(0xa7));
    await new Promise((r) => setTimeout(r, 30));
    // A second session while the first is open: refused (the bound is 1).
    const second = await tcp.dial(listener.address);
    const secondData: Buffer[] = [];
    second.stream.on('data', (d: Buffer) => secondData.push(d));
    second.stream.on('error', () => {});
    second.stream.write(Buffer.from([0xa7, ...Buffer.from('hi\n')]));
    await ended(second.stream);
    expect(Buffer.concat(secondData).length).to.equal(0);
    first.stream.on('error', () => {});
    await ended(first.stream);
    await new Promise((r) => setTimeout(r, 20));
    expect(ends).to.have.members(['refused-busy', 'idle']);
    await listener.close();
    listener = await tcp.listen(multiaddr('/ip4/127.0.0.1/tcp/0'));
    ends = [];
    serveWith(new LivenessService({ allow: ['10.0.0.0/8'] }));
    const refused = await tcp.dial(listener.address);
    refused.stream.on('error', () => {});
    expect(await livenessCheck(refused.stream, { timeoutMs: 2000 }).catch((e: unknown) => e)).to.be.instanceOf(LivenessCheckFailed);
    expect(ends).to.deep.equal(['refused-address']);
  });

  it('the line reader gives the same echoes under any chunking, and only typed errors', () => {
    const input = Buffer.from('a\nbb\n\nccc\n' + 'd'.repeat(50) + '\nrest');
    const whole = new LineEcho().push(input).map((l) => Buffer.from(l).toString());
    expect(whole).to.deep.equal(['a\n', 'bb\n', '\n', 'ccc\n', 'd'.repeat(50) + '\n']);
    fc.assert(
      fc.property(fc.array(fc.nat(input.length), { maxLength: 8 }), (cuts) => {
        const echo = new LineEcho();
        const got = splitAt(input, cuts).flatMap((p) => echo.push(p).map((l) => Buffer.from(l).toString()));
        return JSON.stringify(got) === JSON.stringify(whole);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          new LineEcho().push(bytes);
        } catch (err) {
          if (!(err instanceof LivenessLineTooLong)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
    expect(() => new LivenessService({ allow: ['not-an-ip/8'] })).to.throw(/allow-list/);
  });

  it('a client that sends lines and reads nothing: the echo stops reading at a small bound, and goes on once the client reads', async () => {
    const [client, server] = duplexPair({ highWaterMark: 1024 });
    const service = new LivenessService({ maxQueuedEchoBytes: 512, idleTimeoutMs: 5_000 });
    const ended = service.serve(server, '127.0.0.1', 'tcp');
    const line = Buffer.from('abcdefghij\n');
    const burst = Buffer.concat(Array.from({ length: 50 }, () => line)); // 550 bytes, 50 lines
    const bursts = 100;
    for (let i = 0; i < bursts; i++) client.write(burst); // the client's own buffering, not the server's
    await until('the server stops reading', () => server.isPaused());
    let most = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setImmediate(r));
      most = Math.max(most, server.writableLength);
    }
    expect(server.isPaused()).to.equal(true);
    expect(most, 'unsent echo bounded by the bound plus one read').to.be.at.most(512 + burst.length);
    // The client reads: the echo drains, the server reads again, every line comes back.
    let echoed = 0;
    client.on('data', (d: Buffer) => (echoed += d.length));
    await until('every line echoed', () => echoed === bursts * burst.length);
    client.end();
    expect(await ended).to.equal('ended');
  });

  it('refuses, without writing, a session that did not come straight over TCP (an onion service, a proxy)', async () => {
    for (const via of ['onion', 'socks', 'memory'] as const) {
      const [client, server] = duplexPair();
      const got: Buffer[] = [];
      client.on('data', (d: Buffer) => got.push(d));
      client.write('hello\n');
      expect(await new LivenessService().serve(server, '127.0.0.1', via)).to.equal('refused-transport');
      expect(server.destroyed).to.equal(true);
      expect(got).to.deep.equal([]);
    }
  });
});
