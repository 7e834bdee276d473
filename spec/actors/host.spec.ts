/**
 * The actor host (`actors/host.ts`) with a small machine of its own: starting by id, passing
 * events, counting, releasing, forgetting an actor that ended by itself, reporting crashes (and
 * whether the crashed actor was still hosted), and ending every running actor when it stops.
 */
import { expect } from 'chai';
import { assign, createActor, fromCallback, setup, type AnyActorRef } from 'xstate';
import { actorHost } from '../../actors/host.js';

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

const host = actorHost(worker, {
  onHostStop: { type: 'finish' },
  crashed: (id, error, hosted) => ({ type: 'crashed', id, hosted, message: String(error) }),
});

/** The owner: records what the host reports, and answers counts. */
function owner(): { ref: AnyActorRef; seen: Array<Record<string, unknown>> } {
  const seen: Array<Record<string, unknown>> = [];
  const ref = createActor(fromCallback<{ type: string }>(({ receive }) => receive((e) => void seen.push(e as Record<string, unknown>)))).start();
  return { ref, seen };
}

/** The actors of the system whose ids start with `w:` and their last status. */
function watch(): { inspect: (e: { type: string; actorRef: unknown; snapshot?: unknown }) => void; statuses: Map<string, string>; refs: Map<string, AnyActorRef> } {
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

/** A running host, its owner and the watch on its actors. */
function started() {
  const o = owner();
  const w = watch();
  const h = createActor(host, { input: { parent: o.ref }, inspect: w.inspect }).start();
  return { o, w, h };
}

describe('actor host', () => {
  it('starts actors by id (once), passes events, counts, and forgets released and finished ones', () => {
    const { o, w, h } = started();
    const count = () => {
      h.send({ type: 'host.count', replyTo: o.ref });
      return (o.seen.at(-1) as { hosted: number }).hosted;
    };
    h.send({ type: 'host.start', id: 'w:a', input: { name: 'a' } });
    h.send({ type: 'host.start', id: 'w:b', input: { name: 'b' } });
    h.send({ type: 'host.start', id: 'w:a', input: { name: 'again' } }); // running: ignored
    expect(count()).to.equal(2);
    h.send({ type: 'host.send', id: 'w:a', event: { type: 'tick' } });
    h.send({ type: 'host.send', id: 'w:a', event: { type: 'tick' } });
    h.send({ type: 'host.send', id: 'w:nobody', event: { type: 'tick' } }); // no such actor: nothing
    // Finished by itself: forgotten without a release.
    h.send({ type: 'host.send', id: 'w:b', event: { type: 'finish' } });
    expect(w.statuses.get('w:b')).to.equal('done');
    expect(count()).to.equal(1);
    // A released id can be started again, as a new actor.
    h.send({ type: 'host.release', id: 'w:a' });
    expect(count()).to.equal(0);
    h.send({ type: 'host.start', id: 'w:a', input: { name: 'second' } });
    expect(count()).to.equal(1);
    expect(o.seen.filter((e) => e.type === 'crashed')).to.deep.equal([]);
    h.stop();
    o.ref.stop();
  });

  it('reports a crash with whether the actor was still hosted, and keeps running', () => {
    const { o, w, h } = started();
    h.send({ type: 'host.start', id: 'w:a', input: { name: 'a' } });
    h.send({ type: 'host.send', id: 'w:a', event: { type: 'explode' } });
    // Released, a newer actor started under its id, then the old one crashes (a bug while it
    // ends): reported as not hosted, and the newer one stays.
    h.send({ type: 'host.start', id: 'w:b', input: { name: 'b' } });
    const old = w.refs.get('w:b')!;
    h.send({ type: 'host.release', id: 'w:b' });
    h.send({ type: 'host.start', id: 'w:b', input: { name: 'newer' } });
    expect(w.refs.get('w:b')).to.not.equal(old);
    old.send({ type: 'explode' });
    const crashes = o.seen.filter((e) => e.type === 'crashed');
    expect(crashes.map((c) => [c.id, c.hosted])).to.deep.equal([
      ['w:a', true],
      ['w:b', false],
    ]);
    expect(String(crashes[0]!.message)).to.contain('worker bug');
    h.send({ type: 'host.count', replyTo: o.ref });
    expect(o.seen.at(-1)).to.deep.equal({ type: 'host.counted', hosted: 1 });
    expect(h.getSnapshot().status).to.equal('active');
    h.stop();
    o.ref.stop();
  });

  it('ends every running actor when it stops (they get onHostStop)', () => {
    const { o, w, h } = started();
    for (const id of ['w:1', 'w:2', 'w:3']) h.send({ type: 'host.start', id, input: { name: id } });
    h.send({ type: 'host.send', id: 'w:2', event: { type: 'finish' } });
    expect([...w.statuses.values()]).to.deep.equal(['active', 'done', 'active']);
    h.stop();
    expect([...w.statuses.entries()]).to.deep.equal([
      ['w:1', 'done'],
      ['w:2', 'done'],
      ['w:3', 'done'],
    ]);
    o.ref.stop();
  });
});
