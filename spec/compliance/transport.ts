/**
 * The transport compliance suite: every Transport runs it. The fixture says how to listen
 * (the transport under test, or a plain TCP listener for dial-only transports such as SOCKS5)
 * and which addresses must fail in which way.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Multiaddr } from '@multiformats/multiaddr';
import { TcommsError } from '../../core/errors.js';
import { DialAborted, DialTimeout, UnsupportedAddress } from '../../transports/errors.js';
import type { Transport, TransportConnection, TransportListener } from '../../transports/transport.js';
import { collect, sha } from '../support/streams.js';

export interface TransportFixture {
  /** The transport under test (dials). */
  dialer: Transport;
  /** The transport that listens (the one under test when it can listen). */
  listener: Transport;
  /** Where to listen (port 0). */
  listenAddress: Multiaddr;
  /** The address the dialer uses for a bound listener (default: the bound address). */
  dialAddress?(bound: Multiaddr): Multiaddr;
  /** An address where nothing listens. */
  unreachable(): Promise<Multiaddr>;
  /** Addresses the dialer must reject at once with UnsupportedAddress. */
  unsupported: Multiaddr[];
  /** An address where a dial hangs (and the dialer to use, if not `dialer`), if a dial can hang at all. */
  hanging?(): Promise<{ address: Multiaddr; close(): void; dialer?: Transport }>;
  /** False when the path cannot pass a half-close (microsocks). */
  halfClose?: boolean;
}

export interface TransportComplianceOptions {
  setup(): Promise<TransportFixture>;
  teardown?(): Promise<void>;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]);
}

async function nextInbound(listener: TransportListener): Promise<TransportConnection> {
  const it = listener[Symbol.asyncIterator]();
  const r = await withTimeout(it.next(), 5000, 'inbound connection');
  if (r.done) throw new Error('listener ended');
  return r.value;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function end(stream: Duplex): Promise<void> {
  return new Promise((resolve) => stream.end(resolve));
}

export function transportCompliance(name: string, options: TransportComplianceOptions): void {
  describe(`transport compliance: ${name}`, function () {
    this.timeout(20_000);
    let f: TransportFixture;
    let listener: TransportListener;
    const open: Duplex[] = [];

    before(async () => {
      f = await options.setup();
    });
    after(async () => {
      await options.teardown?.();
    });
    beforeEach(async () => {
      listener = await f.listener.listen(f.listenAddress);
    });
    afterEach(async () => {
      await listener.close();
      for (const s of open.splice(0)) s.destroy();
    });

    const target = () => (f.dialAddress ? f.dialAddress(listener.address) : listener.address);
    const dial = async (): Promise<[TransportConnection, TransportConnection]> => {
      const inbound = nextInbound(listener);
      const out = await f.dialer.dial(target(), { timeoutMs: 5000 });
      const inb = await inbound;
      open.push(out.stream, inb.stream);
      return [out, inb];
    };

    it('binds port 0 to a real port and reports the bound address', () => {
      expect(String(listener.address)).to.not.match(/\/tcp\/0$|\/memory\/0$/);
      expect(f.dialer.canDial(target())).to.equal(true);
    });

    it('carries bytes both ways (1 MiB each, concurrently)', async () => {
      const [out, inb] = await dial();
      expect(out.direction).to.equal('outbound');
      expect(inb.direction).to.equal('inbound');
      // Every transport here says how a connection came (the liveness service trusts only 'tcp').
      expect(['tcp', 'memory', 'onion', 'socks']).to.include(out.via);
      expect(['tcp', 'memory', 'onion', 'socks']).to.include(inb.via);
      const a = randomBytes(1 << 20);
      const b = randomBytes(1 << 20);
      const gotA = collect(inb.stream);
      const gotB = collect(out.stream);
      if (f.halfClose === false) {
        // No half-close on this path: the reader counts bytes instead of waiting for the end.
        out.stream.write(a);
        inb.stream.write(b);
        const count = (s: Duplex, n: number) =>
          new Promise<Buffer>((resolve) => {
            const parts: Buffer[] = [];
            let total = 0;
            s.removeAllListeners('data');
            s.on('data', (c: Buffer) => {
              parts.push(c);
              total += c.length;
              if (total >= n) resolve(Buffer.concat(parts));
            });
          });
        void gotA.catch(() => {});
        void gotB.catch(() => {});
        const [ra, rb] = await withTimeout(Promise.all([count(inb.stream, a.length), count(out.stream, b.length)]), 10_000, 'transfer');
        expect(sha(ra)).to.equal(sha(a));
        expect(sha(rb)).to.equal(sha(b));
        return;
      }
      out.stream.end(a);
      inb.stream.end(b);
      const [ra, rb] = await withTimeout(Promise.all([gotA, gotB]), 10_000, 'transfer');
      expect(sha(ra)).to.equal(sha(a));
      expect(sha(rb)).to.equal(sha(b));
    });

    it('passes a half-close: the other side reads the end and can still reply', async function () {
      if (f.halfClose === false) this.skip();
      const [out, inb] = await dial();
      const request = collect(inb.stream);
      await end(out.stream);
      expect((await withTimeout(request, 5000, 'request')).toString()).to.equal('');
      const reply = collect(out.stream);
      inb.stream.end('after your end');
      expect((await withTimeout(reply, 5000, 'reply')).toString()).to.equal('after your end');
    });

    it('a close after its end, with nothing unread, is graceful: the other side reads all it was sent, then its end', async function () {
      if (f.halfClose === false) this.skip();
      const [out, inb] = await dial();
      // The reader takes nothing yet: what it is sent waits on its side while the writer closes.
      inb.stream.pause();
      const data = randomBytes(32 * 1024); // within what every transport buffers for a reader that reads nothing
      await new Promise<void>((resolve) => out.stream.end(data, resolve));
      out.stream.destroy();
      await new Promise((r) => setTimeout(r, 20));
      inb.stream.on('error', () => {}); // (only what was read matters here)
      const collecting = collect(inb.stream);
      inb.stream.resume(); // (paused explicitly above: a listener alone does not resume it)
      const got = await withTimeout(collecting, 10_000, 'the rest and the end');
      expect(sha(got)).to.equal(sha(data));
    });

    it('serves 20 concurrent connections, each its own bytes', async () => {
      const echo = (async () => {
        let n = 0;
        for await (const c of listener) {
          open.push(c.stream);
          c.stream.on('data', (d: Buffer) => c.stream.write(d));
          if (++n === 20) return;
        }
      })();
      const results = await withTimeout(
        Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const out = await f.dialer.dial(target(), { timeoutMs: 5000 });
            open.push(out.stream);
            const msg = Buffer.from(`connection ${i} `.repeat(100));
            out.stream.write(msg);
            const parts: Buffer[] = [];
            let total = 0;
            for await (const chunk of out.stream) {
              parts.push(chunk as Buffer);
              total += (chunk as Buffer).length;
              if (total >= msg.length) break;
            }
            return Buffer.concat(parts).equals(msg);
          }),
        ),
        15_000,
        'concurrent echo',
      );
      await echo;
      expect(results).to.deep.equal(Array(20).fill(true));
    });

    it('rejects an unsupported address at once with UnsupportedAddress', async () => {
      for (const address of f.unsupported) {
        expect(f.dialer.canDial(address), String(address)).to.equal(false);
        const err = await rejection(f.dialer.dial(address));
        expect(err, String(address)).to.be.instanceOf(UnsupportedAddress);
        expect((err as UnsupportedAddress).kind).to.equal('transport');
      }
    });

    it('fails a dial to an address where nothing listens with a typed transport error', async () => {
      const err = await rejection(withTimeout(f.dialer.dial(await f.unreachable(), { timeoutMs: 5000 }), 8000, 'refused dial'));
      expect(err).to.be.instanceOf(TcommsError);
      expect((err as TcommsError).kind).to.equal('transport');
    });

    it('honours an AbortSignal, before and during the dial', async () => {
      const before = await rejection(f.dialer.dial(target(), { signal: AbortSignal.abort() }));
      expect(before).to.be.instanceOf(DialAborted);
      const controller = new AbortController();
      const during = f.dialer.dial(target(), { signal: controller.signal });
      controller.abort();
      expect(await rejection(during)).to.be.instanceOf(DialAborted);
    });

    it('gives up a dial that hangs after its timeout', async function () {
      if (!f.hanging) this.skip();
      const hole = await f.hanging!();
      try {
        const err = await rejection(withTimeout((hole.dialer ?? f.dialer).dial(hole.address, { timeoutMs: 300 }), 5000, 'hanging dial'));
        expect(err).to.be.instanceOf(DialTimeout);
        expect((err as DialTimeout).kind).to.equal('timeout');
      } finally {
        hole.close();
      }
    });

    it('ends iteration when closed and refuses later dials', async () => {
      const it = listener[Symbol.asyncIterator]();
      const pending = it.next();
      await listener.close();
      expect((await withTimeout(pending, 2000, 'iteration end')).done).to.equal(true);
      const err = await rejection(withTimeout(f.dialer.dial(target(), { timeoutMs: 3000 }), 5000, 'dial after close'));
      expect((err as TcommsError).kind).to.equal('transport');
    });

    it('drops connections beyond the backlog instead of queueing without bound', async () => {
      // Nobody iterates: the backlog fills and further connections are dropped (destroyed).
      const dials = await Promise.allSettled(
        Array.from({ length: 80 }, () => f.dialer.dial(target(), { timeoutMs: 5000 }).then((c) => (open.push(c.stream), c))),
      );
      await withTimeout(
        (async () => {
          while (listener.dropped < 80 - 64) await new Promise((r) => setTimeout(r, 10));
        })(),
        5000,
        'drops',
      );
      expect(listener.dropped).to.equal(80 - 64);
      expect(dials.filter((d) => d.status === 'fulfilled').length).to.be.greaterThanOrEqual(64);
    });
  });
}
