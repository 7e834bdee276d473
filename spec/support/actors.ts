/**
 * Running actors in tests. `startActor` makes and starts a lone actor with its errors observed
 * (the node itself creates actors only under its root). `testSystem` makes a small root that
 * starts the given logics as children under their systemIds, as a node's root does, so that a
 * component finds its siblings (real ones or stand-ins) through the system registry.
 */
import { createActor, fromCallback, setup, spawnChild, type Actor, type ActorRefFromLogic, type AnyActorLogic, type InspectionEvent } from 'xstate';

/** The clock a test drives (a SimulatedClock). */
export interface TestClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Makes, observes and starts an actor; its errors go to `errors` (never unobserved). */
export function startActor<T extends AnyActorLogic>(logic: T, options: { input?: unknown; clock?: TestClock; id?: string; systemId?: string } = {}, errors: unknown[] = []): Actor<T> {
  const actor = createActor(logic, options as never);
  actor.subscribe({ error: (err) => void errors.push(err) });
  actor.start();
  return actor;
}

/** A member of a test system: its logic and input (or a function of the system, to pass an earlier member's ref). */
export interface Member<T extends AnyActorLogic = AnyActorLogic> {
  logic: T;
  input?: unknown;
  inputFrom?: (get: (id: string) => unknown) => unknown;
}

/** A running test system. */
export interface TestSystem<M extends Record<string, Member>> {
  root: Actor<AnyActorLogic>;
  /** The member registered as `id`. */
  get<K extends keyof M & string>(id: K): ActorRefFromLogic<M[K]['logic']>;
  /** Crashes of members (the root records them instead of failing). */
  crashes: unknown[];
  stop(): void;
}

/** Starts each member as a child of one root, under its systemId (and id), in the order given. */
export function testSystem<M extends Record<string, Member>>(members: M, options: { clock?: TestClock; inspect?: (e: InspectionEvent) => void } = {}): TestSystem<M> {
  const crashes: unknown[] = [];
  const actors = Object.fromEntries(Object.entries(members).map(([id, m]) => [id, m.logic]));
  const machine = setup({
    actors,
    actions: { recordCrash: ({ event }: { event: { error?: unknown } }) => void crashes.push(event.error) },
  } as never).createMachine({
    id: 'testRoot',
    entry: Object.entries(members).map(([id, m]) =>
      spawnChild(id as never, { id, systemId: id, input: m.inputFrom ? ({ self }: { self: { system: { get(id: string): unknown } } }) => m.inputFrom!((k) => self.system.get(k)) : m.input } as never),
    ),
    on: { 'xstate.error.actor.*': { actions: 'recordCrash' } },
  } as never);
  const root = createActor(machine, { ...(options.clock ? { clock: options.clock } : {}), ...(options.inspect ? { inspect: options.inspect } : {}) });
  root.subscribe({ error: (err) => void crashes.push(err) });
  root.start();
  return {
    root,
    get: (id) => root.system.get(id),
    crashes,
    stop: () => root.stop(),
  };
}

/** A stand-in component that records every event it is sent. */
export function recorder<E extends { type: string } = { type: string }>(): { logic: ReturnType<typeof fromCallback<E>>; seen: E[] } {
  const seen: E[] = [];
  return { logic: fromCallback<E>(({ receive }) => receive((e) => void seen.push(e))), seen };
}
