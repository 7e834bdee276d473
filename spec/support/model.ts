/**
 * Model-based testing helpers over @xstate/graph: paths that cover every transition of a
 * machine's graph (the shortest path to each state, extended by each of that state's
 * transitions), and a driver that runs a path against a real system under test.
 */
import { getAdjacencyMap, getShortestPaths } from '@xstate/graph';
import type { AnyStateMachine, EventObject } from 'xstate';

export interface ModelStep<S, E> {
  event: E;
  state: S;
}
export interface ModelPath<S, E> {
  name: string;
  steps: Array<ModelStep<S, E>>;
}

export interface ModelOptions<S, E> {
  input: unknown;
  events: (state: S) => E[];
  serializeState: (state: S) => string;
  /** How events are told apart (default: their JSON; needed when an event holds a bigint). */
  serializeEvent?: (event: E) => string;
  /** A short text for a state in test names. */
  describe: (state: S) => string;
  /** A short text for an event in test names (default: its type). */
  describeEvent?: (event: E) => string;
}

/** One path per transition of the graph (deduplicated): every edge is taken at least once. */
export function transitionCover<S, E extends EventObject>(machine: AnyStateMachine, options: ModelOptions<S, E>): Array<ModelPath<S, E>> {
  // (casts: @xstate/graph's declarations resolve xstate's types through its CJS build)
  const traversal = { input: options.input, events: options.events, serializeState: options.serializeState, ...(options.serializeEvent ? { serializeEvent: options.serializeEvent } : {}) } as never;
  const shortest = new Map<string, Array<ModelStep<S, E>>>();
  for (const p of getShortestPaths(machine as never, traversal) as unknown as Array<{ state: S; steps: Array<ModelStep<S, E>> }>) {
    shortest.set(options.serializeState(p.state), p.steps);
  }
  const adjacency = getAdjacencyMap(machine as never, traversal) as unknown as Record<string, { state: S; transitions: Record<string, { event: E; state: S }> }>;
  const paths: Array<ModelPath<S, E>> = [];
  for (const { state, transitions } of Object.values(adjacency)) {
    const prefix = shortest.get(options.serializeState(state));
    if (!prefix) continue;
    for (const t of Object.values(transitions)) {
      const steps = [...prefix, { event: t.event, state: t.state }];
      const name = steps
        .filter((s) => s.event.type !== 'xstate.init')
        .map((s) => `${options.describeEvent ? options.describeEvent(s.event) : s.event.type.replace(/^xstate\.after\.(\w+)\..*/, 'after $1')} -> ${options.describe(s.state)}`)
        .join(', ');
      paths.push({ name, steps });
    }
  }
  return paths;
}

/** Runs a path: for each step, the executor makes the real system take the event, then `check` compares it with the model. */
export async function runPath<S, E extends EventObject>(
  path: ModelPath<S, E>,
  exec: (event: E, expected: S) => Promise<void>,
  check: (expected: S) => void | Promise<void>,
): Promise<void> {
  for (const [i, step] of path.steps.entries()) {
    if (step.event.type !== 'xstate.init') {
      try {
        await exec(step.event, step.state);
      } catch (err) {
        throw new Error(`step ${i} (${step.event.type}) failed: ${(err as Error).message}`, { cause: err });
      }
    }
    try {
      await check(step.state);
    } catch (err) {
      throw new Error(`after step ${i} (${step.event.type}) the system is not where the model is: ${(err as Error).message}`, { cause: err });
    }
  }
}
