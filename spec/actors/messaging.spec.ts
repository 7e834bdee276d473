/**
 * The messaging actor and its outboxes, on real TCP loopback sockets standing in for the
 * messaging substreams: the outboxes run in the host (not as the actor's spawned children), end
 * when idle and come back on the next send, a crashed outbox fails only its own queue, and
 * stopping messaging ends every substream it wrote on.
 */
import { expect } from 'chai';
import type { Socket } from 'node:net';
import { fromCallback, type InspectionEvent } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { toPlainError } from '../../core/errors.js';
import { NodeIdentity, type PublicKey } from '../../core/keys.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import { Messaging, messagingLogic, type MessagingRef, type SendOutcome } from '../../actors/messaging/index.js';
import { OutboxQueue } from '../../actors/outbox/index.js';
import { testSystem, type TestSystem } from '../support/actors.js';
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

/**
 * A stand-in connection manager: it answers each `connection-manager.open-stream` with the
 * stream `openStream` gives (a TCP socket standing in for the substream), or a failure.
 */
function standInConnectionManager(openStream: (publicKey: PublicKey) => Promise<Socket>) {
  return fromCallback<ConnectionManagerInbox>(({ receive }) =>
    receive((e) => {
      if (e.type !== 'connection-manager.open-stream') return;
      openStream(e.publicKey).then(
        (stream) => e.replyTo.send({ type: 'peer-connection.substream', requestId: e.requestId, ok: true, stream: stream as never, protocol: e.protocols[0]! }),
        (err: unknown) => e.replyTo.send({ type: 'peer-connection.substream', requestId: e.requestId, ok: false, error: toPlainError(err) }),
      );
    }),
  );
}

/** Messaging (its actor and its sending side) in a system with the stand-in connection manager. */
interface Harness {
  sender: Messaging;
  actor: MessagingRef;
  system: TestSystem<Record<string, { logic: never }>>;
}

function startMessaging(openStream: (publicKey: PublicKey) => Promise<Socket>, options: { idleTimeoutMs?: number; onError?: (err: unknown) => void; inspect?: (e: InspectionEvent) => void } = {}): Harness {
  const system = testSystem(
    {
      connectionManager: { logic: standInConnectionManager(openStream) },
      messaging: { logic: messagingLogic, input: options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs } },
    },
    options.inspect ? { inspect: options.inspect } : {},
  );
  const actor = system.get('messaging');
  const sender = new Messaging(options.onError ? { onError: options.onError } : {});
  sender.attach(actor);
  return { sender, actor, system: system as never };
}

/** How many outboxes the messaging actor's host holds now. */
const hosted = (h: Harness) => h.actor.getSnapshot().context.directory.size;

describe('messaging actor: hosted outboxes', function () {
  this.timeout(30_000);
  let peers: Peers;
  let h: Harness | undefined;

  beforeEach(() => {
    peers = new Peers();
  });
  afterEach(() => {
    h?.sender.stop();
    h?.system.stop();
    h = undefined;
    peers.close();
  });

  it('runs one outbox per peer in the host: the actor keeps one child, idle outboxes end and come back', async () => {
    h = startMessaging(peers.openStream, { idleTimeoutMs: 100 });
    const messaging = h.sender;
    // Until a substream is lost, its outbox stays: the peers hang up (a reset, as a yamux RST).
    const keys = Array.from({ length: 40 }, () => NodeIdentity.generate().publicKey);
    const outcomes: Array<Promise<SendOutcome>> = [];
    for (const k of keys) for (let i = 0; i < 3; i++) outcomes.push(messaging.send(k, Buffer.from(`m${i}`)));
    expect((await Promise.all(outcomes)).every((o) => o.ok)).to.equal(true);
    // The outboxes are not among the actor's children (XState copies those on every spawn).
    expect(Object.keys(h.actor.getSnapshot().children)).to.deep.equal(['outboxes']);
    expect(h.actor.getSnapshot().context.outboxes.size).to.equal(40);
    expect(hosted(h)).to.equal(40);
    await until('every peer got its messages', () => keys.every((k) => peers.got.get(toHex(k))?.length === 3), 5_000);
    for (const k of keys) expect(peers.got.get(toHex(k))).to.deep.equal(['m0', 'm1', 'm2']);

    // The peers reset their substreams: each outbox goes idle, and 100 ms later it ends.
    expect(h.actor.getSnapshot().context.outboxes.size).to.equal(40);
    for (const far of peers.far) far.resetAndDestroy();
    await until('idle outboxes ended', () => h!.actor.getSnapshot().context.outboxes.size === 0, 5_000);
    await until('the host let them go', () => hosted(h!) === 0);

    // The next message to a peer starts a new outbox and a new substream.
    expect(await messaging.send(keys[0]!, Buffer.from('again'))).to.deep.equal({ ok: true });
    expect(peers.opened.get(toHex(keys[0]!))).to.equal(2);
    await until('delivered', () => peers.got.get(toHex(keys[0]!))?.length === 4, 5_000);
    expect(h.actor.getSnapshot().status).to.equal('active');
  });

  it('an idle outbox that is dropped ends (status done), watched through inspection', async () => {
    const statuses = new Map<string, string>();
    h = startMessaging(peers.openStream, {
      idleTimeoutMs: 50,
      inspect: (e) => {
        const id = (e.actorRef as { id?: string }).id ?? '';
        if (e.type === '@xstate.snapshot' && id.startsWith('outbox:')) statuses.set(id, (e.snapshot as { status: string }).status);
      },
    });
    const actor = h.actor;
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
  });

  it('a crash report for an outbox ended already leaves the peer\'s newer outbox alone', async () => {
    h = startMessaging(peers.openStream, { onError: () => {} });
    const actor = h.actor;
    const reports: Array<{ key: string; queueLost: boolean }> = [];
    actor.on('messaging.outbox-crashed', (e) => void reports.push({ key: e.key, queueLost: e.queueLost }));
    const k = NodeIdentity.generate().publicKey;
    const key = toHex(k);
    const queue = new OutboxQueue(8);
    actor.send({ type: 'messaging.wake', publicKey: k, queue });
    const error = { name: 'OutboxCrashed', message: 'x', kind: 'internal' as const };
    // (the host's report, sent as the host would)
    const report = (hosted: boolean) => (actor as unknown as { send(e: object): void }).send({ type: 'outbox.crashed', key, hosted, error });
    report(false);
    expect(actor.getSnapshot().context.outboxes.get(key)).to.equal(queue);
    report(true);
    expect(actor.getSnapshot().context.outboxes.has(key)).to.equal(false);
    expect(reports).to.deep.equal([
      { key, queueLost: false },
      { key, queueLost: true },
    ]);
  });

  it('a crashed outbox fails its own queue only; messaging keeps serving, the same peer included', async () => {
    const errors: unknown[] = [];
    const broken = NodeIdentity.generate().publicKey;
    const fine = NodeIdentity.generate().publicKey;
    let breakNext = true;
    // The first substream to `broken` is not a stream: the writer throws as it starts, which
    // crashes the outbox (a bug, not a failed dial) with both messages in its queue.
    h = startMessaging(
      async (publicKey) => {
        if (toHex(publicKey) === toHex(broken) && breakNext) {
          breakNext = false;
          await new Promise((r) => setTimeout(r, 20));
          return {} as Socket;
        }
        return peers.openStream(publicKey);
      },
      { onError: (err) => errors.push(err) },
    );
    const messaging = h.sender;
    const lost = [messaging.send(broken, Buffer.from('a')), messaging.send(broken, Buffer.from('b'))];
    const other = messaging.send(fine, Buffer.from('c'));
    const settled = await Promise.race([Promise.all(lost), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5_000))]);
    expect(settled).to.not.equal('hung');
    for (const o of settled as SendOutcome[]) expect(o).to.deep.include({ ok: false }).and.to.have.nested.property('error.name', 'OutboxCrashed');
    expect(await other).to.deep.equal({ ok: true });
    expect(errors).to.have.length(1);
    expect(String((errors[0] as Error).message)).to.match(/outbox of peer .* crashed/);
    expect(h.actor.getSnapshot().status).to.equal('active');
    expect(messaging.queued).to.equal(0);
    // The peer whose outbox crashed gets a new one.
    expect(await messaging.send(broken, Buffer.from('d'))).to.deep.equal({ ok: true });
    await until('delivered', () => peers.got.get(toHex(broken))?.length === 1, 5_000);
    expect(peers.got.get(toHex(broken))).to.deep.equal(['d']);
  });

  it('stopping messaging ends every outbox: each substream it wrote on sees its end', async () => {
    h = startMessaging(peers.openStream);
    const messaging = h.sender;
    const keys = Array.from({ length: 5 }, () => NodeIdentity.generate().publicKey);
    expect((await Promise.all(keys.map((k) => messaging.send(k, Buffer.from('x'))))).every((o) => o.ok)).to.equal(true);
    expect(peers.ended.size).to.equal(0);
    messaging.stop();
    h.actor.send({ type: 'messaging.stop' });
    await until('every substream ended', () => keys.every((k) => peers.ended.get(toHex(k)) === 1), 5_000);
    // Every outbox ended and reported it: messaging is stopped (final), not waiting for its timeout.
    await until('messaging stopped', () => h!.actor.getSnapshot().status === 'done', 2_000);
    expect(await messaging.send(keys[0]!, Buffer.from('late'))).to.deep.include({ ok: false });
  });
});
