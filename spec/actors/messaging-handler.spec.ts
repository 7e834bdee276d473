/**
 * The inbound messaging handler on real yamux substreams (two muxer pairs over in-memory duplex
 * pairs standing in for two connections of one peer): one inbound messaging substream per peer
 * and connection; a substream on the peer's newer connection is served while the older
 * connection's is still open (the older one is closing: a fault broke it, or the tie-break
 * replaced it), instead of being reset and every message written on it lost.
 */
import { expect } from 'chai';
import { NodeIdentity } from '../../core/keys.js';
import { messagingHandler } from '../../actors/messaging/messaging.logic.js';
import type { InboundMessage } from '../../actors/messaging/index.js';
import type { ValidatedIdentity } from '../../protocols/identity/index.js';
import { YamuxMuxer } from '../../channels/yamux/muxer.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { until } from '../support/wait.js';

const frame = (text: string): Buffer => {
  const body = Buffer.from(text);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
};

describe('inbound messaging handler (real yamux substreams)', () => {
  const muxers: YamuxMuxer[] = [];
  afterEach(() => {
    for (const m of muxers.splice(0)) m.abort();
  });

  it('serves one substream per peer and connection: a newer connection is served while the older is open, a second on one connection is reset', async () => {
    const peer = { publicKey: NodeIdentity.generate().publicKey } as unknown as ValidatedIdentity;
    const got: string[] = [];
    const handler = messagingHandler({
      maxMessageBytes: 1024,
      middleware: [],
      deliver: async (m: InboundMessage) => void got.push(Buffer.from(m.body).toString()),
      reports: () => undefined,
    });
    /** One connection of the peer: the client side opens substreams, the server side hands them to the handler. */
    const connection = () => {
      const [a, b] = duplexPair();
      const token = {};
      const client = new YamuxMuxer(a, { client: true });
      const server = new YamuxMuxer(b, { client: false, onStream: (s) => void handler(s, { protocol: '/tari/messaging/0.1.0', peer, connection: token }) });
      muxers.push(client, server);
      const open = (): YamuxStream => {
        const s = client.newStream();
        s.on('error', () => {});
        return s;
      };
      return { open };
    };
    const older = connection();
    const first = older.open();
    first.write(frame('old 1'));
    await until('the older connection delivers', () => got.includes('old 1'));

    const newer = connection();
    const second = newer.open();
    second.write(frame('new 1'));
    await until('the newer connection delivers while the older substream is open', () => got.includes('new 1'));
    first.write(frame('old 2'));
    await until('the older substream still delivers its last bytes', () => got.includes('old 2'));

    const extra = newer.open();
    const reset = new Promise<void>((resolve) => extra.once('close', () => resolve()));
    extra.write(frame('extra'));
    await reset;
    second.write(frame('new 2'));
    await until('the newer substream goes on', () => got.includes('new 2'));
    expect(got).to.not.include('extra');
  });

  it('delivers what the taker takes at once without pausing; a taker that must wait pauses the substream, keeps the order, and keeps that body charged', async () => {
    const peer = { publicKey: NodeIdentity.generate().publicKey } as unknown as ValidatedIdentity;
    const got: string[] = [];
    let hold: (() => void) | undefined;
    let stream: YamuxStream | undefined;
    let pauses = 0;
    const handler = messagingHandler({
      maxMessageBytes: 1024,
      middleware: [],
      deliver: (m: InboundMessage) => {
        const text = Buffer.from(m.body).toString();
        got.push(text);
        if (text !== 'wait') return undefined;
        return new Promise<void>((resolve) => (hold = resolve)); // a full taker
      },
      reports: () => undefined,
    });
    const [a, b] = duplexPair();
    const client = new YamuxMuxer(a, { client: true });
    const server = new YamuxMuxer(b, {
      client: false,
      onStream: (s) => {
        stream = s;
        const pause = s.pause.bind(s);
        s.pause = () => {
          pauses++;
          return pause();
        };
        handler(s, { protocol: '/tari/messaging/0.1.0', peer, connection: {}, memory: s.memory });
      },
    });
    muxers.push(client, server);
    const out = client.newStream();
    out.on('error', () => {});
    out.write(Buffer.concat([frame('one'), frame('two')]));
    await until('both delivered', () => got.length === 2);
    expect(pauses, 'taken at once: the substream was never paused').to.equal(0);
    const before = server.memory.used;
    out.write(Buffer.concat([frame('wait'), frame('after')]));
    await until('the waiting body reached the taker', () => hold !== undefined);
    expect(got).to.deep.equal(['one', 'two', 'wait']);
    expect(pauses).to.equal(1);
    expect(stream!.isPaused(), 'waiting: the substream is not read').to.equal(true);
    expect(server.memory.used - before, 'the bodies not taken yet stay charged').to.be.at.least('wait'.length + 'after'.length);
    out.write(frame('later'));
    hold!();
    await until('the rest, in order', () => got.length === 5);
    expect(got).to.deep.equal(['one', 'two', 'wait', 'after', 'later']);
    await until('the substream flows again', () => !stream!.isPaused());
  });
});
