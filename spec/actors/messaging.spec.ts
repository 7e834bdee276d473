/**
 * The messaging actor and its outboxes, on real TCP loopback sockets standing in for the
 * messaging substreams: the outboxes run in the host (not as the actor's spawned children), end
 * when idle and come back on the next send, a crashed outbox fails only its own queue, and
 * stopping messaging ends every substream it wrote on.
 */
import { expect } from 'chai';
import type { Socket } from 'node:net';
import { createActor, fromCallback } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity, type PublicKey } from '../../core/keys.js';
import { Messaging, messagingLogic, type SendOutcome } from '../../actors/messaging/index.js';
import { OutboxQueue } from '../../actors/outbox/index.js';
import { MessageFrameDecoder } from '../../protocols/messaging/index.js';
import { tcpPair } from '../support/tcp.js';
import { until } from '../support/wait.js';

/** The far ends of the substreams opened, by peer (public key hex), with the bodies they got. */
class Peers {
  readonly got = new Map<string, string[]>();
  readonly ended = new Map<string, number>();
  readonly opened = new Map<string, number>();
  readonly sockets: Socket[] = [];
  readonly far: Socket[] = [];

  /** `openStream` for messaging: a real TCP pair per substream; the far end decodes frames. */
  readonly openStream = async (publicKey: PublicKey): Promise<Socket> => {
    const key = toHex(publicKey);
    const [near, far] = await tcpPair();
    this.sockets.push(near, far);
    this.far.push(far);
    near.on('error', () => {});
    this.opened.set(key, (this.opened.get(key) ?? 0) + 1);
    const decoder = new MessageFrameDecoder(1024);
    far.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) this.got.set(key, [...(this.got.get(key) ?? []), Buffer.from(body).toString()]);
    });
    far.on('end', () => {
      this.ended.set(key, (this.ended.get(key) ?? 0) + 1);
      far.end();
    });
    return near;
  };

  close(): void {
    for (const s of this.sockets) s.destroy();
  }
}

/** How many outboxes the messaging actor's host holds now. */
async function hosted(messaging: Messaging): Promise<number> {
  const host = messaging.actor.getSnapshot().children.outboxes!;
  let count = -1;
  const asker = createActor(fromCallback<{ type: 'host.counted'; hosted: number }>(({ receive }) => receive((e) => void (count = e.hosted)))).start();
  host.send({ type: 'host.count', replyTo: asker });
  asker.stop();
  return count;
}

describe('messaging actor: hosted outboxes', function () {
  this.timeout(30_000);
  let peers: Peers;
  let messaging: Messaging | undefined;

  beforeEach(() => {
    peers = new Peers();
  });
  afterEach(() => {
    messaging?.stop();
    messaging = undefined;
    peers.close();
  });

  it('runs one outbox per peer in the host: the actor keeps one child, idle outboxes end and come back', async () => {
    messaging = new Messaging({ openStream: peers.openStream, idleTimeoutMs: 100 });
    // Until a substream is lost, its outbox stays: the peers hang up (a reset, as a yamux RST).
    const keys = Array.from({ length: 40 }, () => NodeIdentity.generate().publicKey);
    const outcomes: Array<Promise<SendOutcome>> = [];
    for (const k of keys) for (let i = 0; i < 3; i++) outcomes.push(messaging.send(k, Buffer.from(`m${i}`)));
    expect((await Promise.all(outcomes)).every((o) => o.ok)).to.equal(true);
    // The outboxes are not among the actor's children (XState copies those on every spawn).
    expect(Object.keys(messaging.actor.getSnapshot().children)).to.deep.equal(['outboxes']);
    expect(messaging.actor.getSnapshot().context.outboxes.size).to.equal(40);
    expect(await hosted(messaging)).to.equal(40);
    await until('every peer got its messages', () => keys.every((k) => peers.got.get(toHex(k))?.length === 3), 5_000);
    for (const k of keys) expect(peers.got.get(toHex(k))).to.deep.equal(['m0', 'm1', 'm2']);

    // The peers reset their substreams: each outbox goes idle, and 100 ms later it ends.
    expect(messaging.actor.getSnapshot().context.outboxes.size).to.equal(40);
    for (const far of peers.far) far.resetAndDestroy();
    await until('idle outboxes ended', () => messaging!.actor.getSnapshot().context.outboxes.size === 0, 5_000);
    expect(await hosted(messaging)).to.equal(0);

    // The next message to a peer starts a new outbox and a new substream.
    expect(await messaging.send(keys[0]!, Buffer.from('again'))).to.deep.equal({ ok: true });
    expect(peers.opened.get(toHex(keys[0]!))).to.equal(2);
    await until('delivered', () => peers.got.get(toHex(keys[0]!))?.length === 4, 5_000);
    expect(messaging.actor.getSnapshot().status).to.equal('active');
  });

  it('an idle outbox that is dropped ends (status done), watched through inspection', async () => {
    const statuses = new Map<string, string>();
    const actor = createActor(messagingLogic, {
      input: { openStream: peers.openStream, idleTimeoutMs: 50 },
      inspect: (e) => {
        const id = (e.actorRef as { id?: string }).id ?? '';
        if (e.type === '@xstate.snapshot' && id.startsWith('outbox:')) statuses.set(id, (e.snapshot as { status: string }).status);
      },
    }).start();
    const keys = Array.from({ length: 10 }, () => NodeIdentity.generate().publicKey);
    const settled: SendOutcome[] = [];
    for (const k of keys) {
      const queue = new OutboxQueue(8);
      queue.push({ body: Buffer.from('x'), settle: (o: SendOutcome) => void settled.push(o) });
      actor.send({ type: 'messaging.wake', publicKey: k, queue });
    }
    await until('written', () => settled.length === 10, 5_000);
    expect([...statuses.values()]).to.deep.equal(Array(10).fill('active'));
    for (const far of peers.far) far.resetAndDestroy();
    await until('dropped', () => actor.getSnapshot().context.outboxes.size === 0, 5_000);
    expect(statuses.size).to.equal(10);
    expect([...statuses.values()]).to.deep.equal(Array(10).fill('done'));
    actor.stop();
  });

  it('a crash report for an outbox ended already leaves the peer\'s newer outbox alone', async () => {
    const actor = createActor(messagingLogic, { input: { openStream: peers.openStream } }).start();
    const reports: Array<{ key: string; queueLost: boolean }> = [];
    actor.on('messaging.outbox-crashed', (e) => void reports.push({ key: e.key, queueLost: e.queueLost }));
    const k = NodeIdentity.generate().publicKey;
    const key = toHex(k);
    const queue = new OutboxQueue(8);
    actor.send({ type: 'messaging.wake', publicKey: k, queue });
    const error = { name: 'OutboxCrashed', message: 'x', kind: 'internal' as const };
    actor.send({ type: 'outbox.crashed', id: `outbox:${key}`, hosted: false, error });
    expect(actor.getSnapshot().context.outboxes.get(key)).to.equal(queue);
    actor.send({ type: 'outbox.crashed', id: `outbox:${key}`, hosted: true, error });
    expect(actor.getSnapshot().context.outboxes.has(key)).to.equal(false);
    expect(reports).to.deep.equal([
      { key, queueLost: false },
      { key, queueLost: true },
    ]);
    actor.stop();
  });

  it('a crashed outbox fails its own queue only; messaging keeps serving, the same peer included', async () => {
    const errors: unknown[] = [];
    const broken = NodeIdentity.generate().publicKey;
    const fine = NodeIdentity.generate().publicKey;
    let breakNext = true;
    messaging = new Messaging({
      // The first substream to `broken` is not a stream: the writer throws as it starts, which
      // crashes the outbox (a bug, not a failed dial) with both messages in its queue.
      openStream: async (publicKey) => {
        if (toHex(publicKey) === toHex(broken) && breakNext) {
          breakNext = false;
          await new Promise((r) => setTimeout(r, 20));
          return {} as Socket;
        }
        return peers.openStream(publicKey);
      },
      onError: (err) => errors.push(err),
    });
    const lost = [messaging.send(broken, Buffer.from('a')), messaging.send(broken, Buffer.from('b'))];
    const other = messaging.send(fine, Buffer.from('c'));
    const settled = await Promise.race([Promise.all(lost), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5_000))]);
    expect(settled).to.not.equal('hung');
    for (const o of settled as SendOutcome[]) expect(o).to.deep.include({ ok: false }).and.to.have.nested.property('error.name', 'OutboxCrashed');
    expect(await other).to.deep.equal({ ok: true });
    expect(errors).to.have.length(1);
    expect(String((errors[0] as Error).message)).to.match(/outbox of peer .* crashed/);
    expect(messaging.actor.getSnapshot().status).to.equal('active');
    expect(messaging.queued).to.equal(0);
    // The peer whose outbox crashed gets a new one.
    expect(await messaging.send(broken, Buffer.from('d'))).to.deep.equal({ ok: true });
    await until('delivered', () => peers.got.get(toHex(broken))?.length === 1, 5_000);
    expect(peers.got.get(toHex(broken))).to.deep.equal(['d']);
  });

  it('stopping messaging ends every outbox: each substream it wrote on sees its end', async () => {
    messaging = new Messaging({ openStream: peers.openStream });
    const keys = Array.from({ length: 5 }, () => NodeIdentity.generate().publicKey);
    expect((await Promise.all(keys.map((k) => messaging!.send(k, Buffer.from('x'))))).every((o) => o.ok)).to.equal(true);
    expect(peers.ended.size).to.equal(0);
    messaging.stop();
    await until('every substream ended', () => keys.every((k) => peers.ended.get(toHex(k)) === 1), 5_000);
    expect(await messaging.send(keys[0]!, Buffer.from('late'))).to.deep.include({ ok: false });
  });
});
