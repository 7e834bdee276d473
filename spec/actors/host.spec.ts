/**
 * The actor host (`actors/host.ts`) with a small machine of its own: starting by id, passing
 * events, counting, releasing, forgetting an actor that ended by itself, reporting crashes (and
 * whether the crashed actor was still hosted), and ending every running actor when it stops.
 */
import { expect } from 'chai';
import { assign, createActor, setup, type Actor, type AnyActorRef, type InspectionEvent } from 'xstate';
import { actorHost, HostDirectory } from '../../actors/host.js';

type WorkerEvent = { type: 'tick' } | { type: 'finish' } | { type: 'explode' };

/** A hosted machine: counts ticks, ends on `finish`, throws on `explode`. */
const worker = setup({
  types: { context: {} as { ticks: number; name: string }, events: {} as WorkerEvent, input: {} as { name: string } },
  actions: {
    explode: () => {
      throw new Error('worker bug');
    },
  },
}).createMachine({
  id: 'worker',
  context: ({ input }) => ({ ticks: 0, name: input.name }),
  initial: 'running',
  states: {
    running: {
      on: {
        tick: { actions: assign({ ticks: ({ context }) => context.ticks + 1 }) },
        finish: 'done',
        explode: { actions: 'explode' },
      },
    },
    done: { type: 'final' },
  },
});

type Crashed = { type: 'crashed'; key: string; hosted: boolean; message: string };

const host = actorHost(worker, {
  onHostStop: { type: 'finish' },
  crashed: (key, error, hosted): Crashed => ({ type: 'crashed', key, hosted, message: String(error) }),
});

/** The actors of the system whose ids start with `w:`, by key, and their last status. */
function watch(): { inspect: (e: InspectionEvent) => void; statuses: Map<string, string>; refs: Map<string, AnyActorRef> } {
  const statuses = new Map<string, string>();
  const refs = new Map<string, AnyActorRef>();
  return {
    statuses,
    refs,
    inspect: (e) => {
      const id = (e.actorRef as { id?: string }).id ?? '';
      if (!id.startsWith('w:')) return;
      refs.set(id, e.actorRef as AnyActorRef);
      if (e.type === '@xstate.snapshot') statuses.set(id, (e.snapshot as { status: string }).status);
    },
  };
}

/** The owner: runs the host for its whole life and records what the host reports. */
function started() {
  const seen: Crashed[] = [];
  const directory = new HostDirectory<Actor<typeof worker>>();
  const owner = setup({
    types: { events: {} as Crashed },
    actors: { host },
    actions: { record: ({ event }) => void seen.push(event) },
  }).createMachine({ invoke: { id: 'host', src: 'host', input: { directory } }, on: { crashed: { actions: 'record' } } });
  const w = watch();
  const o = createActor(owner, { inspect: w.inspect }).start();
  const h = o.getSnapshot().children.host!;
  return { o, seen, w, h, directory };
}

describe('actor host', () => {
  it('starts actors by key (once) under their readable ids, passes events, and forgets released and finished ones', () => {
    const { o, seen, w, h, directory } = started();
    h.send({ type: 'host.start', key: 'a', id: 'w:a', input: { name: 'a' } });
    h.send({ type: 'host.start', key: 'b', id: 'w:b', input: { name: 'b' } });
    h.send({ type: 'host.start', key: 'a', id: 'w:a', input: { name: 'again' } }); // running: ignored
    expect(directory.size).to.equal(2);
    expect(directory.get('a')!.id).to.equal('w:a');
    h.send({ type: 'host.send', key: 'a', event: { type: 'tick' } });
    h.send({ type: 'host.send', key: 'a', event: { type: 'tick' } });
    expect(directory.get('a')!.getSnapshot().context.ticks).to.equal(2);
    h.send({ type: 'host.send', key: 'nobody', event: { type: 'tick' } }); // no such actor: nothing
    // Finished by itself: forgotten without a release.
    h.send({ type: 'host.send', key: 'b', event: { type: 'finish' } });
    expect(w.statuses.get('w:b')).to.equal('done');
    expect(directory.size).to.equal(1);
    // A released key can be started again, as a new actor.
    h.send({ type: 'host.release', key: 'a' });
    expect(directory.size).to.equal(0);
    h.send({ type: 'host.start', key: 'a', id: 'w:a', input: { name: 'second' } });
    expect(directory.size).to.equal(1);
    expect(seen).to.deep.equal([]);
    o.stop();
  });

  it('reports a crash to its owner with whether the actor was still hosted, and keeps running', () => {
    const { o, seen, w, h, directory } = started();
    h.send({ type: 'host.start', key: 'a', id: 'w:a', input: { name: 'a' } });
    h.send({ type: 'host.send', key: 'a', event: { type: 'explode' } });
    // Released, a newer actor started under its key, then the old one crashes (a bug while it
    // ends): reported as not hosted, and the newer one stays.
    h.send({ type: 'host.start', key: 'b', id: 'w:b', input: { name: 'b' } });
    const old = w.refs.get('w:b')!;
    h.send({ type: 'host.release', key: 'b' });
    h.send({ type: 'host.start', key: 'b', id: 'w:b', input: { name: 'newer' } });
    expect(w.refs.get('w:b')).to.not.equal(old);
    old.send({ type: 'explode' });
    expect(seen.map((c) => [c.key, c.hosted])).to.deep.equal([
      ['a', true],
      ['b', false],
    ]);
    expect(seen[0]!.message).to.contain('worker bug');
    expect(directory.size).to.equal(1);
    expect(o.getSnapshot().status).to.equal('active');
    o.stop();
  });

  it('ends every running actor when it stops with its owner (they get onHostStop)', () => {
    const { o, w, h } = started();
    for (const key of ['1', '2', '3']) h.send({ type: 'host.start', key, id: `w:${key}`, input: { name: key } });
    h.send({ type: 'host.send', key: '2', event: { type: 'finish' } });
    expect([...w.statuses.values()]).to.deep.equal(['active', 'done', 'active']);
    o.stop();
    expect([...w.statuses.entries()]).to.deep.equal([
      ['w:1', 'done'],
      ['w:2', 'done'],
      ['w:3', 'done'],
    ]);
  });
});
