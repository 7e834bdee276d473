import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import { TcommsError } from '../../core/errors.js';
import { NodeIdentity } from '../../core/keys.js';
import { negotiateInbound, negotiateOutbound } from '../../channels/negotiate.js';
import { YamuxMuxer } from '../../channels/yamux/muxer.js';
import { TurnBudget } from '../../channels/turn-budget.js';
import {
  IDENTITY_PROTOCOL,
  IdentityTimeout,
  LIVENESS_WIRE_BYTE,
  PeerConnection,
  TimeToFirstByteExceeded,
  upgradeInbound,
  upgradeOutbound,
  WrongNetworkByte,
  type UpgradeConfig,
} from '../../channels/upgrade.js';
import { IdentityInvalid } from '../../protocols/identity/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { TcpTransport } from '../../transports/tcp/tcp.js';
import type { Transport, TransportListener } from '../../transports/transport.js';
import { testNode } from '../support/nodes.js';
import { collect } from '../support/streams.js';

const node = testNode;

async function accept(listener: TransportListener) {
  const r = await listener[Symbol.asyncIterator]().next();
  return r.value!;
}

for (const [name, make, address] of [
  ['tcp', () => new TcpTransport(), '/ip4/127.0.0.1/tcp/0'],
  ['memory', () => new MemoryTransport({ network: new MemoryNetwork() }), '/memory/0'],
] as Array<[string, () => Transport, string]>) {
  describe(`connection upgrade over ${name}`, function () {
    this.timeout(20_000);
    let transport: Transport;
    let listener: TransportListener;
    beforeEach(async () => {
      transport = make();
      listener = await transport.listen(multiaddr(address));
    });
    afterEach(async () => listener.close());

    async function connect(a: UpgradeConfig, b: UpgradeConfig, dialed = b.identity.publicKey) {
      const inbound = accept(listener).then((c) => upgradeInbound(c.stream, b));
      const out = await transport.dial(listener.address);
      const outbound = upgradeOutbound(out.stream, a, { dialedPublicKey: dialed });
      return Promise.allSettled([outbound, inbound]);
    }

    it('ends with an active connection on both sides: identities exchanged, substreams both ways', async () => {
      const a = node('alice');
      const b = node('bob', { addresses: ['/dns4/bob.example/tcp/1', '/ip6/::1/tcp/2'] });
      const [o, i] = await connect(a, b);
      if (o.status === 'rejected') throw o.reason;
      if (i.status === 'rejected') throw i.reason;
      const alice = o.value;
      const bob = i.value as PeerConnection;
      expect(alice.peer.userAgent).to.equal('bob');
      expect(alice.peer.parsedAddresses.map((x) => x.kind)).to.deep.equal(['dns4', 'ip6']);
      expect(Buffer.from(alice.peer.publicKey).equals(Buffer.from(b.identity.publicKey))).to.equal(true);
      expect(bob.peer.userAgent).to.equal('alice');
      expect(bob.direction).to.equal('inbound');
      // An echo protocol on both sides, substreams opened both ways.
      for (const conn of [alice, bob]) {
        conn.on('stream', (s) => {
          void negotiateInbound(s, new Set(['/test/echo/1'])).then(() => s.pipe(s));
        });
        conn.release();
      }
      for (const [from, label] of [
        [alice, 'a->b'],
        [bob, 'b->a'],
      ] as const) {
        const { stream, protocol } = await from.openStream(['/test/echo/1']);
        expect(protocol).to.equal('/test/echo/1');
        const back = collect(stream);
        stream.end(label);
        expect((await back).toString()).to.equal(label);
      }
      await Promise.all([alice.close(), bob.close()]);
    });

    it('holds substreams the peer opens before this side has checked its identity, then delivers them', async () => {
      const a = node('alice');
      const b = node('bob');
      const inbound = accept(listener).then(async (c) => {
        const bob = (await upgradeInbound(c.stream, b)) as PeerConnection;
        // At once: alice may not have read bob's identity yet.
        const opened = bob.openStream(['/test/echo/1'], { optimistic: true });
        return { bob, opened };
      });
      const out = await transport.dial(listener.address);
      const alice = await upgradeOutbound(out.stream, a, { dialedPublicKey: b.identity.publicKey });
      const got = new Promise<string>((resolve) =>
        alice.on('stream', (s) => {
          s.on('error', () => {});
          void negotiateInbound(s, new Set(['/test/echo/1'])).then(async () => {
            resolve((await collect(s)).toString());
            s.end();
          });
        }),
      );
      alice.release();
      const { bob, opened } = await inbound;
      const { stream } = await opened;
      stream.on('error', () => {});
      stream.resume();
      stream.end('early');
      expect(await got).to.equal('early');
      await Promise.all([alice.close(), bob.close()]);
    });

    it('the dialer sends the wire byte and the first Noise message in one write', async () => {
      const a = node('alice');
      const b = node('bob');
      const inbound = accept(listener).then((c) => upgradeInbound(c.stream, b));
      const out = await transport.dial(listener.address);
      const writes: Buffer[] = [];
      const write = out.stream.write.bind(out.stream) as (...args: unknown[]) => boolean;
      (out.stream as { write: unknown }).write = (chunk: Uint8Array, ...rest: unknown[]) => {
        writes.push(Buffer.from(chunk));
        return write(chunk, ...rest);
      };
      const [o, i] = await Promise.allSettled([upgradeOutbound(out.stream, a, { dialedPublicKey: b.identity.publicKey }), inbound]);
      if (o.status === 'rejected') throw o.reason;
      if (i.status === 'rejected') throw i.reason;
      // The network byte, then XX message 1: a u16 length of 32 and the ephemeral key.
      expect(writes[0]!.length).to.equal(1 + 2 + 32);
      expect([...writes[0]!.subarray(0, 3)]).to.deep.equal([a.channel.networkByte, 0, 32]);
      o.value.close();
      (i.value as PeerConnection).close();
    });

    it('refuses a wrong network byte: the responder closes without writing a byte', async () => {
      const a = node('alice', { networkByte: 0x26 });
      const b = node('bob');
      const inbound = accept(listener);
      const out = await transport.dial(listener.address);
      const received: Buffer[] = [];
      out.stream.on('data', (d: Buffer) => received.push(d));
      out.stream.on('error', () => {});
      const dialing = upgradeOutbound(out.stream, a, { dialedPublicKey: b.identity.publicKey }).catch((e: unknown) => e);
      const err = await upgradeInbound((await inbound).stream, b).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(WrongNetworkByte);
      expect((err as WrongNetworkByte).received).to.equal(0x26);
      expect(await dialing).to.be.instanceOf(TcommsError);
      expect(Buffer.concat(received).length).to.equal(0);
    });

    it('hurries its turn budget (TurnBudget.urgent) from the responder\'s admission and the dial to the end of the upgrade, failed or not', async () => {
      const [aTurns, bTurns] = [new TurnBudget(512 * 1024), new TurnBudget(512 * 1024)];
      const holds: Array<[string, number]> = [];
      // What this side's turn budget said when its identity was signed (during the identity exchange).
      const during = (config: UpgradeConfig, turns: TurnBudget, label: string): UpgradeConfig => ({
        ...config,
        turns,
        identityContent: () => {
          holds.push([label, turns.urgentHolds]);
          return config.identityContent();
        },
      });
      const [o, i] = await connect(during(node('alice'), aTurns, 'alice'), during(node('bob'), bTurns, 'bob'));
      expect(o.status).to.equal('fulfilled');
      expect(i.status).to.equal('fulfilled');
      expect(holds.sort()).to.deep.equal([
        ['alice', 1],
        ['bob', 1],
      ]);
      expect([aTurns.urgentHolds, bTurns.urgentHolds]).to.deep.equal([0, 0]);
      for (const r of [o, i]) if (r.status === 'fulfilled' && 'close' in r.value) await r.value.close();
      const [o2, i2] = await connect({ ...node('alice'), turns: aTurns }, { ...node('bob'), turns: bTurns }, NodeIdentity.generate().publicKey);
      expect([o2.status, i2.status]).to.deep.equal(['rejected', 'rejected']);
      expect([aTurns.urgentHolds, bTurns.urgentHolds]).to.deep.equal([0, 0]);
    });

    it('fails a dial to the wrong key without an active connection on either side', async () => {
      const a = node('alice');
      const b = node('bob');
      const [o, i] = await connect(a, b, NodeIdentity.generate().publicKey);
      expect(o.status).to.equal('rejected');
      expect((o as PromiseRejectedResult).reason.name).to.equal('DialedPublicKeyMismatch');
      expect(i.status).to.equal('rejected');
    });

    it('rejects an invalid identity (6 addresses) and closes the connection', async () => {
      const a = node('alice');
      const b = node('bob', { addresses: Array.from({ length: 6 }, (_, k) => `/ip4/10.0.0.${k + 1}/tcp/1`) });
      const [o] = await connect(a, b);
      expect(o.status).to.equal('rejected');
      expect((o as PromiseRejectedResult).reason).to.be.instanceOf(IdentityInvalid);
      expect((o as PromiseRejectedResult).reason.reason).to.equal('address_count');
    });

    it('times out a silent socket (time to first byte) and a peer that sends no identity', async () => {
      const b = node('bob', { timeToFirstByteMs: 100 });
      const inbound = accept(listener);
      const out = await transport.dial(listener.address);
      out.stream.on('error', () => {});
      expect(await upgradeInbound((await inbound).stream, b).catch((e: unknown) => e)).to.be.instanceOf(TimeToFirstByteExceeded);
      out.stream.destroy();
      // A peer that completes Noise and yamux but never opens the identity substream.
      const bob = node('bob', { identityTimeoutMs: 200 });
      const mute = node('mute');
      const inbound2 = accept(listener).then((c) => upgradeInbound(c.stream, bob));
      const out2 = await transport.dial(listener.address);
      out2.stream.write(Uint8Array.of(0));
      const secure = await mute.channel.secureOutbound(out2.stream, { dialedPublicKey: bob.identity.publicKey });
      secure.on('error', () => {});
      expect(await inbound2.catch((e: unknown) => e)).to.be.instanceOf(IdentityTimeout);
      secure.destroy();
    });

    for (const how of ['aborted', 'connection closed'] as const) {
      it(`a responder waiting for the identity substream ends at once when ${how}, and lets go of its urgent hold`, async () => {
        const turns = new TurnBudget(512 * 1024);
        const bob = { ...node('bob', { identityTimeoutMs: 60_000 }), turns };
        const mute = node('mute');
        const controller = new AbortController();
        const inbound = accept(listener).then((c) => upgradeInbound(c.stream, bob, { signal: controller.signal }));
        const out = await transport.dial(listener.address);
        out.stream.on('error', () => {});
        out.stream.write(Uint8Array.of(0));
        const secure = await mute.channel.secureOutbound(out.stream, { dialedPublicKey: bob.identity.publicKey });
        secure.on('error', () => {});
        // Its yamux session answers a Ping: the responder is past Noise, waiting for the identity substream.
        const muxer = new YamuxMuxer(secure, { client: true });
        await muxer.ping(5_000);
        expect(turns.urgentHolds).to.equal(1);
        if (how === 'aborted') controller.abort(new Error('shed'));
        else muxer.abort();
        const settled = await Promise.race([inbound.then(() => 'fulfilled', () => 'rejected'), new Promise((resolve) => setTimeout(() => resolve('pending'), 2_000))]);
        expect(settled, 'the upgrade is over well before its identity deadline').to.equal('rejected');
        expect(turns.urgentHolds).to.equal(0);
        secure.destroy();
        await inbound.catch(() => undefined);
      });
    }

    for (const how of ['reset', 'connection closed'] as const) {
      it(`the responder fails the upgrade with a typed error when the identity substream ends early (${how})`, async () => {
        const bob = node('bob');
        const rude = node('rude');
        const inbound = accept(listener).then((c) => upgradeInbound(c.stream, bob));
        const out = await transport.dial(listener.address);
        out.stream.on('error', () => {});
        out.stream.write(Uint8Array.of(0));
        const secure = await rude.channel.secureOutbound(out.stream, { dialedPublicKey: bob.identity.publicKey });
        secure.on('error', () => {});
        const muxer = new YamuxMuxer(secure, { client: true });
        const stream = muxer.newStream();
        stream.on('error', () => {});
        await negotiateOutbound(stream, [IDENTITY_PROTOCOL], { optimistic: true });
        stream.write(Uint8Array.of(1, 0)); // a partial identity frame, then no end
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (how === 'reset') stream.destroy();
        else secure.destroy();
        const err = await inbound.catch((e: unknown) => e);
        expect(err, String(err)).to.be.instanceOf(TcommsError);
        secure.destroy();
      });
    }

    it('hands the liveness wire byte to the caller', async () => {
      const b = node('bob');
      const inbound = accept(listener);
      const out = await transport.dial(listener.address);
      out.stream.write(Uint8Array.of(LIVENESS_WIRE_BYTE));
      const result = await upgradeInbound((await inbound).stream, b);
      expect(result).to.have.property('kind', 'liveness');
      out.stream.destroy();
      (result as { raw: { destroy(): void } }).raw.destroy();
    });
  });
}
