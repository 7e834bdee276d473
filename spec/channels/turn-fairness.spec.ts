/**
 * The turn budget shared by a secure channel and a muxer: a reader that waited first for the
 * next turn reads first in it, and a reader with a backlog that waited first takes only its share.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { NodeIdentity } from '../../core/keys.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import { YamuxMuxer } from '../../channels/yamux/muxer.js';
import { TurnBudget } from '../../channels/turn-budget.js';
import { Flag, FrameType } from '../../protocols/yamux/index.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { yamuxFrame } from '../support/yamux.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

const syn = (id: number): Buffer => yamuxFrame(FrameType.WindowUpdate, Flag.SYN, id, 0);

describe('TurnBudget shared by secure channels and muxers: the order of waiting', function () {
  this.timeout(20_000);
  const open: Array<{ destroy(): void } | YamuxMuxer> = [];
  afterEach(() => {
    for (const x of open.splice(0)) (x instanceof YamuxMuxer ? x.abort() : x.destroy());
  });

  /** A bulk secure channel pair and a victim muxer fed by `attacker`, all on one turn budget. */
  async function pair(turns: TurnBudget) {
    const [alice, bob] = [NodeIdentity.generate(), NodeIdentity.generate()];
    const make = (id: NodeIdentity) => new NoiseSecureChannel({ staticKeys: noiseStaticKeys(id), turns });
    const [a, b] = duplexPair() as [Duplex, Duplex];
    open.push(a, b);
    const [sa, sb] = await Promise.all([make(alice).secureOutbound(a, { dialedPublicKey: bob.publicKey }), make(bob).secureInbound(b)]);
    open.push(sa, sb);
    const counts = { bulk: 0, opened: 0 };
    sb.on('data', (d: Buffer) => (counts.bulk += d.length));
    const [attacker, conn] = duplexPair();
    open.push(attacker, conn);
    attacker.on('data', () => {});
    const victim = new YamuxMuxer(conn, { client: false, config: { keepaliveIntervalMs: 0 }, turns, onStream: (st) => (counts.opened++, st.on('error', () => {}), st.destroy()) });
    open.push(victim);
    return { sa, attacker, counts };
  }

  /** Bulk bytes and stream opens in each of the next `n` turns. */
  async function perTurn(counts: { bulk: number; opened: number }, n: number): Promise<Array<[number, number]>> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      const [b0, o0] = [counts.bulk, counts.opened];
      await nextTurn();
      out.push([counts.bulk - b0, counts.opened - o0]);
    }
    return out;
  }

  it('a channel with bulk data that waited before a muxer with a backlog of stream opens reads in the next turns', async () => {
    const turns = new TurnBudget(512 * 1024);
    const { sa, attacker, counts } = await pair(turns);
    await nextTurn();
    sa.write(randomBytes(4 * 1024 * 1024)); // spends this turn's budget: the channel waits first
    attacker.write(Buffer.concat(Array.from({ length: 500 }, (_, i) => syn(1 + 2 * i)))); // then the muxer
    expect(turns.waiting).to.equal(2);
    const turnsSeen = await perTurn(counts, 5);
    // Each of these turns, the bulk channel (which waited first) had some of the budget.
    expect(turnsSeen.map(([bytes]) => bytes > 0), JSON.stringify(turnsSeen)).to.deep.equal([true, true, true, true, true]);
  });

  it('a muxer with a backlog of stream opens that waited before a bulk channel takes its share of each turn, not the whole turn', async () => {
    const turns = new TurnBudget(512 * 1024);
    const { sa, attacker, counts } = await pair(turns);
    await nextTurn();
    attacker.write(Buffer.concat(Array.from({ length: 500 }, (_, i) => syn(1 + 2 * i)))); // spends this turn's budget: the muxer waits first
    await new Promise((r) => process.nextTick(r));
    sa.write(randomBytes(4 * 1024 * 1024)); // then the channel
    await new Promise((r) => process.nextTick(r));
    expect(turns.waiting).to.equal(2);
    const turnsSeen = await perTurn(counts, 5);
    // Each turn, both had some of it: the opens about half the budget (16 of 32), the bulk the rest.
    expect(turnsSeen.map(([bytes, opens]) => bytes > 0 && opens > 0 && opens <= 17), JSON.stringify(turnsSeen)).to.deep.equal([true, true, true, true, true]);
  });
});
