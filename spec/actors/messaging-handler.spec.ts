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
});
