import { expect } from 'chai';
import fc from 'fast-check';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { multiaddr } from '@multiformats/multiaddr';
import { TcommsError } from '../../core/errors.js';
import {
  METHOD_NO_AUTH,
  METHOD_USER_PASS,
  Socks5AuthFailed,
  Socks5NoAcceptableMethod,
  Socks5Rejected,
  Socks5ReplyMalformed,
  Socks5ReplyReader,
} from '../../protocols/socks5/index.js';
import { Socks5Transport } from '../../transports/socks5/socks5.js';
import { splitAt } from '../support/streams.js';

const ONION = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';
const ok4 = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];

describe('SOCKS5 reply reader', () => {
  it('reads no-auth and username/password exchanges, with the tunnel bytes after them', () => {
    const r = new Socks5ReplyReader([METHOD_NO_AUTH]);
    expect(r.push(Uint8Array.of(5, 0, ...ok4, 0xaa, 0xbb))).to.equal(12);
    expect(r.stage).to.equal('done');
    expect(r.bound).to.deep.equal({ atyp: 1, host: '127.0.0.1', port: 8080 });
    const a = new Socks5ReplyReader([METHOD_NO_AUTH, METHOD_USER_PASS]);
    a.push(Uint8Array.of(5, 2, 1));
    expect(a.stage).to.equal('auth');
    a.push(Uint8Array.of(0, 5, 0, 0, 3, 3, 0x61, 0x62, 0x63, 0, 1));
    expect(a.bound).to.deep.equal({ atyp: 3, host: 'abc', port: 1 });
    const six = new Socks5ReplyReader([METHOD_NO_AUTH]);
    six.push(Uint8Array.of(5, 0, 5, 0, 0, 4, ...new Array(15).fill(0), 1, 0, 2));
    expect(six.bound).to.deep.equal({ atyp: 4, host: '0:0:0:0:0:0:0:1', port: 2 });
  });

  it('gives each failure its type', () => {
    const cases: Array<[number[], number[], Function]> = [
      [[0], [4, 0], Socks5ReplyMalformed],
      [[0], [5, 0xff], Socks5NoAcceptableMethod],
      [[0], [5, 2], Socks5ReplyMalformed], // a method that was never offered
      [[0, 2], [5, 2, 1, 1], Socks5AuthFailed],
      [[0, 2], [5, 2, 2, 0], Socks5ReplyMalformed],
      [[0], [5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0], Socks5Rejected],
      [[0], [5, 0, 5, 0xf0, 0, 1, 0, 0, 0, 0, 0, 0], Socks5Rejected],
      [[0], [5, 0, 5, 0, 1, 1, 0, 0, 0, 0, 0, 0], Socks5ReplyMalformed],
      [[0], [5, 0, 5, 0, 0, 9, 0, 0, 0, 0, 0, 0], Socks5ReplyMalformed],
      [[0], [5, 0, 5, 0, 0, 3, 0, 0, 0], Socks5ReplyMalformed],
    ];
    for (const [offered, bytes, type] of cases) {
      const r = new Socks5ReplyReader(offered);
      expect(() => r.push(Uint8Array.from(bytes)), JSON.stringify(bytes)).to.throw(type as never);
      expect(() => r.push(Uint8Array.of(1)), 'errors stick').to.throw(type as never);
    }
    const tor = new Socks5ReplyReader([0]);
    let err: unknown;
    try {
      tor.push(Uint8Array.of(5, 0, 5, 0xf0, 0, 1, 0, 0, 0, 0, 0, 0));
    } catch (e) {
      err = e;
    }
    expect((err as Socks5Rejected).reason).to.equal('onion service descriptor not found');
    expect((err as Socks5Rejected).retryable).to.equal(true);
  });

  it('gives the same result under any chunking', () => {
    const exchange = Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 3, 4, 0x68, 0x6f, 0x73, 0x74, 0x12, 0x34, 9, 9, 9);
    fc.assert(
      fc.property(fc.array(fc.nat(exchange.length), { maxLength: 8 }), (cuts) => {
        const r = new Socks5ReplyReader([0, 2]);
        let exchangeBytes = 0;
        for (const piece of splitAt(exchange, cuts)) exchangeBytes += r.push(piece);
        return r.stage === 'done' && exchangeBytes === exchange.length - 3 && r.bound?.host === 'host' && r.bound.port === 0x1234;
      }),
      { numRuns: 1000 },
    );
  });

  it('random and truncated input only ever raises typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, auth) => {
        const r = new Socks5ReplyReader(auth ? [0, 2] : [0]);
        try {
          r.push(bytes);
        } catch (err) {
          if (!(err instanceof TcommsError)) throw err;
        }
      }),
      { numRuns: 5000 },
    );
    // Every prefix of valid exchanges: never done early, never an error.
    const valid = [Uint8Array.of(5, 0, ...ok4), Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 3, 1, 0x61, 0, 1)];
    for (const v of valid) {
      for (let n = 0; n < v.length; n++) {
        const r = new Socks5ReplyReader([0, 2]);
        r.push(v.subarray(0, n));
        expect(r.stage).to.not.equal('done');
      }
    }
  });
});

/** A scripted proxy: records what the client sent and answers with `reply(greeting)`. */
async function fakeProxy(reply: (socket: Socket, received: Buffer[]) => void): Promise<{ server: Server; port: number; received: Buffer[] }> {
  const received: Buffer[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => received.push(d));
    reply(socket, received);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, received };
}

describe('SOCKS5 dialing against a hostile proxy', function () {
  this.timeout(60_000);

  it('sends names to the proxy as domain names (no local resolution)', async () => {
    const host = `${ONION}.onion`;
    const proxy = await fakeProxy((socket, received) => {
      socket.write(Uint8Array.of(5, 0));
      socket.on('data', () => {
        // greeting (3 bytes), then the request: 5 1 0 3 len name port
        if (Buffer.concat(received).length === 3 + 5 + host.length + 2) socket.write(Uint8Array.of(5, 0, 0, 1, 0, 0, 0, 0, 0, 0));
      });
    });
    try {
      const t = new Socks5Transport({ proxy: { host: '127.0.0.1', port: proxy.port } });
      const conn = await t.dial(multiaddr(`/onion3/${ONION}:18141`), { timeoutMs: 3000 });
      conn.stream.destroy();
      const request = Buffer.concat(proxy.received).subarray(3); // after the greeting
      expect([...request.subarray(0, 5)]).to.deep.equal([5, 1, 0, 3, host.length]);
      expect(request.subarray(5, 5 + host.length).toString()).to.equal(host);
      expect(request.readUInt16BE(5 + host.length)).to.equal(18141);
    } finally {
      proxy.server.close();
    }
  });

  it('random, truncated and stalled replies give typed errors, never a crash or a hang', async () => {
    let script: Uint8Array = new Uint8Array(0);
    let closeAfter = true;
    const proxy = await fakeProxy((socket) => {
      socket.write(script);
      if (closeAfter) socket.end();
    });
    const t = new Socks5Transport({ proxy: { host: '127.0.0.1', port: proxy.port } });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 40 }),
            // Plausible replies with random details.
            fc.tuple(fc.nat(255), fc.nat(9), fc.uint8Array({ maxLength: 30 })).map(([code, atyp, rest]) => Uint8Array.of(5, 0, 5, code, 0, atyp, ...rest)),
          ),
          fc.boolean(),
          async (bytes, close) => {
            script = bytes;
            closeAfter = close;
            try {
              const conn = await t.dial(multiaddr('/dns4/peer.example/tcp/1'), { timeoutMs: 150 });
              conn.stream.destroy();
            } catch (err) {
              if (!(err instanceof TcommsError)) throw err;
            }
          },
        ),
        { numRuns: 250 },
      );
    } finally {
      proxy.server.close();
    }
  });
});
