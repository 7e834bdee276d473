/**
 * Models of a machine in its world, for @xstate/graph. Some machines read what they decide on
 * from outside their snapshot (a queue's length through their input) or depend on facts the
 * snapshot does not keep (whether a timer is still armed, whether a message is in flight). The
 * graph then needs those facts in its states: a {@link WorldState} is the machine's snapshot
 * and the test's world next to it, and {@link worldModel} makes a logic of both whose
 * transitions are the machine's own (with the world's facts set where its guards read them)
 * followed by the world's bookkeeping. The machine is the unchanged one: only what it reads
 * from outside is set from the world before each transition.
 *
 * Traversal runs the machine with a mock actor scope whose system has no components; a machine
 * that looks a sibling up (`component(system, 'connectionManager')`) and acts differently
 * without one is given `components`: inert stand-ins registered under those systemIds.
 */
import { createActor, fromCallback, setup, spawnChild, type AnyActorScope, type AnyStateMachine, type EventObject, type SnapshotFrom } from 'xstate';
import type { ModelPath } from './model.js';

/** A state of a machine in its world. */
export interface WorldState<TMachine extends AnyStateMachine, W> {
  snap: SnapshotFrom<TMachine>;
  world: W;
}

/** How a machine's world evolves. */
export interface WorldOptions<TMachine extends AnyStateMachine, W, E extends EventObject> {
  /** The machine's input in the model. */
  input: unknown;
  /** The world at the start. */
  world: W;
  /** Sets what the machine reads from outside (a model queue's length, say) from the world, before the machine takes `event`. */
  expose?: (world: W, event: E) => void;
  /** The world after the machine took `event` (from `prev` to `snap`). */
  next: (prev: WorldState<TMachine, W>, event: E, snap: SnapshotFrom<TMachine>) => W;
  /** SystemIds that must resolve during traversal (inert stand-ins). */
  components?: readonly string[];
}

/** A logic over {@link WorldState}s for `transitionCover` (pass it where a machine is asked for). */
export function worldModel<TMachine extends AnyStateMachine, W, E extends EventObject>(machine: TMachine, options: WorldOptions<TMachine, W, E>): AnyStateMachine {
  const components = options.components ?? [];
  // (inert and never stopped: it only gives the traversal a system in which those ids resolve)
  const holder = createActor(
    setup({}).createMachine({ entry: components.map((id) => spawnChild(fromCallback(() => {}), { systemId: id })) }),
  );
  holder.start();
  const scoped = (scope: AnyActorScope): AnyActorScope => (components.length === 0 ? scope : ({ ...scope, system: holder.system } as AnyActorScope));
  const logic = {
    config: {},
    getInitialSnapshot: (scope: AnyActorScope, _input: unknown): WorldState<TMachine, W> => ({
      snap: machine.getInitialSnapshot(scoped(scope), options.input) as SnapshotFrom<TMachine>,
      world: options.world,
    }),
    transition: (state: WorldState<TMachine, W>, event: E, scope: AnyActorScope): WorldState<TMachine, W> => {
      options.expose?.(state.world, event);
      const snap = machine.transition(state.snap, event, scoped(scope)) as SnapshotFrom<TMachine>;
      return { snap, world: options.next(state, event, snap) };
    },
  };
  // (the graph needs only getInitialSnapshot and transition; typed as a machine for transitionCover)
  return logic as unknown as AnyStateMachine;
}

/** A test title for a path: each step's event (as `label` names it) and the state it led to. */
export function pathTitle<S, E extends EventObject>(path: ModelPath<S, E>, label: (event: E) => string, describe: (state: S) => string): string {
  return path.steps
    .filter((s) => s.event.type !== 'xstate.init')
    .map((s) => `${label(s.event)} -> ${describe(s.state)}`)
    .join(', ');
}
