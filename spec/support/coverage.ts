/**
 * Transition coverage of a real actor: every transition of a machine (each branch of each event,
 * eventless and delayed ones included), and those its actors actually took, seen through the
 * inspection API. Model-based tests check at the end that the real runs took every one.
 */
import type { AnyActorRef, AnyStateMachine, AnyTransitionDefinition, InspectionEvent } from 'xstate';

interface Node {
  id: string;
  transitions: Map<string, AnyTransitionDefinition[]>;
  always?: AnyTransitionDefinition[];
  states: Record<string, Node>;
}

/** A transition's name: its source, event (or `always`) and which branch of it. */
function nameOf(t: AnyTransitionDefinition): string {
  const source = t.source as unknown as Node;
  const always = source.always?.indexOf(t) ?? -1;
  if (always >= 0) return `${source.id}: always #${always}`;
  return `${source.id}: ${t.eventType} #${source.transitions.get(t.eventType)?.indexOf(t) ?? '?'}`;
}

/** Every transition of `machine`, by name. */
export function transitionsOf(machine: AnyStateMachine): string[] {
  const out: string[] = [];
  const visit = (node: Node) => {
    for (const defs of node.transitions.values()) for (const t of defs) out.push(nameOf(t));
    for (const t of node.always ?? []) out.push(nameOf(t));
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root as unknown as Node);
  return out;
}

/** Records the transitions taken by actors running `machine` (pass `inspect` to the system). */
export class TransitionCoverage {
  readonly taken = new Set<string>();
  constructor(readonly machine: AnyStateMachine) {}

  readonly inspect = (e: InspectionEvent): void => {
    if (e.type !== '@xstate.microstep' || (e.actorRef as AnyActorRef & { logic?: unknown }).logic !== this.machine) return;
    for (const t of e._transitions) this.taken.add(nameOf(t));
  };

  /** Transitions of the machine no run took. */
  missing(): string[] {
    return transitionsOf(this.machine).filter((t) => !this.taken.has(t));
  }
}
