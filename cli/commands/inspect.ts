/**
 * `tcomms inspect [node options]`: runs a node like `tcomms node` and writes the XState
 * inspection stream of its whole actor system, from before it starts, as JSON lines: each
 * actor as it is created (`actor`), each event with its sender (`event`), each action run
 * (`action`) and each new snapshot's state (`snapshot`). Actors have readable ids: the root
 * `commsNode`, its components by systemId, and `dial:<NodeId>`, `peerConnection:<NodeId>`,
 * `outbox:<NodeId>`.
 */
import { toHex } from '../../core/bytes.js';
import type { InspectionEvent } from 'xstate';
import { writeStdout } from '../output.js';
import { nodeCommand } from './node.js';

/** A JSON-safe summary of one inspection event. */
export function inspectionLine(e: InspectionEvent): Record<string, unknown> {
  const actor = (e.actorRef as { id?: string }).id;
  switch (e.type) {
    case '@xstate.actor':
      return { inspect: 'actor', actor };
    case '@xstate.event':
      return { inspect: 'event', actor, source: (e.sourceRef as { id?: string } | undefined)?.id, event: e.event.type };
    case '@xstate.snapshot': {
      const snap = e.snapshot as { value?: unknown; status?: string };
      return { inspect: 'snapshot', actor, event: e.event.type, value: snap.value, status: snap.status };
    }
    case '@xstate.action':
      return { inspect: 'action', actor, action: e.action.type };
    case '@xstate.microstep':
      return { inspect: 'microstep', actor, event: e.event.type };
    default:
      return { inspect: (e as { type: string }).type, actor };
  }
}

/** Runs `tcomms inspect`. */
export async function inspectCommand(argv: string[]): Promise<number> {
  const write = (e: InspectionEvent) => {
    try {
      writeStdout(`${JSON.stringify(inspectionLine(e), (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))}\n`);
    } catch {
      // a value that cannot be written as JSON: skip the line
    }
  };
  return nodeCommand([...argv.filter((a) => a !== '--json'), '--json'], { inspect: write });
}
