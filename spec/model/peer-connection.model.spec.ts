/**
 * Model-based test (@xstate/graph): from the peer-connection machine's graph (states are value,
 * missed pings and ping outstanding), one path per transition is generated, and each path
 * drives the real actor over a real connection (memory transport) with faults injected below
 * the secure channel: a gate that silences the peer, and an abrupt end of its socket. After
 * every step the real actor must be where the model is.
 */
import { expect } from 'chai';
import { createActor, SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { multiaddr } from '@multiformats/multiaddr';
import { negotiateInbound } from '../../channels/negotiate.js';
import { ProtocolRegistry } from '../../channels/protocol-registry.js';
import { PeerConnection, upgradeInbound, upgradeOutbound } from '../../channels/upgrade.js';
import { openSubstreamVia, peerConnectionLogic, peerConnectionMachine, type PeerConnectionActor } from '../../actors/peer-connection/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { Gate } from '../support/gate.js';
import { testNode } from '../support/nodes.js';
import { collect } from '../support/streams.js';
import { until } from '../support/wait.js';
import { runPath, transitionCover } from '../support/model.js';

type Snap = SnapshotFrom<typeof peerConnectionMachine>;
type Ev = EventFromLogic<typeof peerConnectionMachine>;

const ECHO = '/test/echo/1';
const INTERVAL = 1_000;
const TICK = 'xstate.after.keepaliveInterval.peerConnection.active.pinging';
const registry = new ProtocolRegistry().register(ECHO, (s) => void s.pipe(s));

/** The model's own input: nothing in it runs during traversal (effects are deferred and dropped). */
const modelConnection = { peer: { publicKey: new Uint8Array(32), supportedProtocols: [] }, muxer: { closed: false } } as unknown as PeerConnection;

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const events: Ev[] = [{ type: 'connection.ended', error: undefined }];
  if (state.matches('active')) {
    events.push({ type: 'peer-connection.disconnect' });
    if (!state.context.pingOutstanding) events.push({ type: 'peer-connection.open-substream', requestId: 'model', protocols: [ECHO] });
    if (state.context.pingOutstanding) events.push({ type: 'keepalive.answered', ms: 0 });
    if (state.matches({ active: 'pinging' })) events.push({ type: TICK } as unknown as Ev);
  }
  return events;
}

const paths = transitionCover<Snap, Ev>(peerConnectionMachine, {
  input: { connection: modelConnection, protocols: registry, keepaliveIntervalMs: INTERVAL, keepaliveMaxMissed: 3 },
  events: modelEvents,
  serializeState: (s) => JSON.stringify({ value: s.value, missed: s.context.missed, out: s.context.pingOutstanding, status: s.status }),
  describe: (s) => (s.status === 'done' ? 'closed' : s.matches('closing') ? 'closing' : `active(missed ${s.context.missed}${s.context.pingOutstanding ? ', ping out' : ''})`),
});

interface Sut {
  actor: PeerConnectionActor;
  clock: SimulatedClock;
  gate: Gate;
  outbound: PeerConnection;
  inbound: PeerConnection;
}

async function system(): Promise<Sut> {
  const transport = new MemoryTransport({ network: new MemoryNetwork() });
  const listener = await transport.listen(multiaddr('/memory/0'));
  const [a, b] = [testNode('a', { yamux: { keepaliveIntervalMs: 0 } }), testNode('b', { yamux: { keepaliveIntervalMs: 0 } })];
  const accepted = listener[Symbol.asyncIterator]().next().then((r) => {
    const gate = new Gate(r.value!.stream);
    return upgradeInbound(gate, b).then((conn) => ({ gate, conn }));
  });
  const dialed = await transport.dial(listener.address);
  const [outbound, { gate, conn }] = await Promise.all([upgradeOutbound(dialed.stream, a, { dialedPublicKey: b.identity.publicKey }), accepted]);
  await listener.close();
  if (!(conn instanceof PeerConnection)) throw new Error('expected a connection');
  conn.on('stream', (s) => void negotiateInbound(s, new Set([ECHO])).then(() => s.pipe(s), () => undefined)); // bob serves echo without an actor
  conn.release();
  const clock = new SimulatedClock();
  const actor = createActor(peerConnectionLogic, { input: { connection: outbound, protocols: registry, keepaliveIntervalMs: INTERVAL, keepaliveMaxMissed: 3 }, clock });
  actor.subscribe({ error: () => {} });
  actor.start();
  gate.close(); // silent by default: pongs only come when a PONG step lets them through
  return { actor, clock, gate, outbound, inbound: conn };
}

function checkState(sut: Sut, expected: Snap): void {
  const real = sut.actor.getSnapshot();
  if (expected.status === 'done') {
    expect(real.status).to.equal('done');
    return;
  }
  if (expected.matches('closing') && real.status === 'done') {
    // The keepalive abort ends the connection at once; its end may already have been seen.
    expect(sut.outbound.muxer.closed).to.equal(true);
    return;
  }
  expect(real.value).to.deep.equal(expected.value);
  expect(real.context.missed).to.equal(expected.context.missed);
  expect(real.context.pingOutstanding).to.equal(expected.context.pingOutstanding);
}

describe('peer-connection machine, model-based (paths from its graph drive the real actor)', function () {
  this.timeout(60_000);
  it('the paths take every transition: ticks, pongs, opens, disconnects, ends, the keepalive abort', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => s.event.type)));
    for (const t of [TICK, 'keepalive.answered', 'peer-connection.open-substream', 'peer-connection.disconnect', 'connection.ended']) expect(taken).to.include(t);
    const ends = new Set(paths.map((p) => p.name.split(' -> ').at(-1)));
    expect(ends).to.include('closing').and.to.include('closed').and.to.include('active(missed 2, ping out)');
    expect(paths.length).to.be.at.least(20);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = await system();
      try {
        await runPath(
          path,
          async (event) => {
            switch (event.type as string) {
              case TICK:
                sut.clock.increment(INTERVAL);
                return;
              case 'keepalive.answered':
                sut.gate.open();
                await until('pong', () => !sut.actor.getSnapshot().context.pingOutstanding);
                sut.gate.close();
                return;
              case 'peer-connection.open-substream': {
                sut.gate.open();
                const { stream } = await openSubstreamVia(sut.actor, [ECHO], 5_000);
                const back = collect(stream);
                stream.end('model');
                expect((await back).toString()).to.equal('model');
                sut.gate.close();
                return;
              }
              case 'peer-connection.disconnect':
                sut.actor.send({ type: 'peer-connection.disconnect' });
                await until('closing', () => !sut.actor.getSnapshot().matches('active'));
                return;
              case 'connection.ended':
                if (sut.actor.getSnapshot().matches('closing')) sut.gate.open(); // the graceful close completes
                else sut.gate.inner.destroy(); // the peer vanishes
                await until('closed', () => sut.actor.getSnapshot().status === 'done');
                return;
              default:
                throw new Error(`no executor for ${event.type}`);
            }
          },
          (expected) => checkState(sut, expected),
        );
      } finally {
        sut.actor.stop();
        sut.gate.open();
        await Promise.all([sut.outbound.close(), sut.inbound.close()]).catch(() => undefined);
      }
    });
  }
});
