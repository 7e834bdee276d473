/**
 * `tcomms/machines`: every state machine of a node, pure (no effects run until a node provides
 * its implementations), for tooling that draws or walks the charts and for model-based tests;
 * and each machine's JSON definition and a Mermaid state diagram drawn from its state nodes
 * (targets, guards, delays, invoked actors' done/error). `tcomms charts` writes them;
 * `docs/charts/` holds the current ones and a test fails when they are stale.
 */
import type { AnyStateMachine } from 'xstate';
import { commsNodeMachine } from '../actors/comms-node/index.js';
import { connectionManagerMachine } from '../actors/connection-manager/index.js';
import { connectivityMachine } from '../actors/connectivity/index.js';
import { dhtMachine } from '../actors/dht/index.js';
import { dhtConnectivityMachine } from '../actors/dht-connectivity/index.js';
import { dialMachine } from '../actors/dial/index.js';
import { discoveryMachine } from '../actors/discovery/index.js';
import { dialerMachine } from '../actors/dialer/index.js';
import { identityMachine } from '../actors/identity/index.js';
import { listenerMachine } from '../actors/listener/index.js';
import { messagingMachine } from '../actors/messaging/index.js';
import { networkDiscoveryMachine } from '../actors/network-discovery/index.js';
import { outboxMachine } from '../actors/outbox/index.js';
import { peerConnectionMachine } from '../actors/peer-connection/index.js';
import { peerManagerMachine } from '../actors/peer-manager/index.js';
import { rpcClientMachine } from '../actors/rpc-client/index.js';
import { rpcClientSessionMachine } from '../actors/rpc-client-session/index.js';
import { rpcServerMachine } from '../actors/rpc-server/index.js';
import { rpcSessionMachine } from '../actors/rpc-session/index.js';
import { safMachine } from '../actors/saf/index.js';
import { safRequestMachine } from '../actors/saf-request/index.js';

export {
  commsNodeMachine,
  peerManagerMachine,
  identityMachine,
  listenerMachine,
  dialerMachine,
  dialMachine,
  connectionManagerMachine,
  peerConnectionMachine,
  connectivityMachine,
  messagingMachine,
  outboxMachine,
  dhtMachine,
  discoveryMachine,
  networkDiscoveryMachine,
  dhtConnectivityMachine,
  safMachine,
  safRequestMachine,
};

/** Every machine of the node, by id. */
export const MACHINES: readonly AnyStateMachine[] = [
  commsNodeMachine,
  peerManagerMachine,
  identityMachine,
  listenerMachine,
  dialerMachine,
  dialMachine,
  connectionManagerMachine,
  peerConnectionMachine,
  connectivityMachine,
  messagingMachine,
  outboxMachine,
  rpcServerMachine,
  rpcSessionMachine,
  rpcClientMachine,
  rpcClientSessionMachine,
  dhtMachine,
  discoveryMachine,
  networkDiscoveryMachine,
  dhtConnectivityMachine,
  safMachine,
  safRequestMachine,
];

interface NodeLike {
  id: string;
  key: string;
  type: string;
  description?: string;
  states: Record<string, NodeLike>;
  transitions: Map<string, Array<{ target?: NodeLike[]; guard?: { type?: string } | string; reenter?: boolean }>>;
  always?: Array<{ target?: NodeLike[]; guard?: { type?: string } | string }>;
  initial?: { target?: NodeLike[] };
}

const mermaidId = (node: NodeLike) => node.id.replace(/[^A-Za-z0-9]/g, '_');

function eventLabel(type: string): string {
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after) return `after ${after[1]}`;
  const done = /^xstate\.done\.actor\.\d+\.(.+?)\.(.+)$/.exec(type) ?? /^xstate\.done\.actor\.(.+)$/.exec(type);
  if (done) return `done ${done.at(-1)}`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(type);
  if (error) return `error ${error[1]}`;
  return type;
}

const guardLabel = (guard: { type?: string } | string | undefined) => (guard === undefined ? '' : ` [${typeof guard === 'string' ? guard : (guard.type ?? 'guard')}]`);

/** A Mermaid `stateDiagram-v2` of a machine. */
export function mermaidOf(machine: AnyStateMachine): string {
  const lines = ['stateDiagram-v2'];
  const walk = (node: NodeLike, indent: string) => {
    const children = Object.values(node.states);
    for (const child of children) {
      lines.push(`${indent}state "${child.key}" as ${mermaidId(child)}`);
      if (child.description) lines.push(`${indent}note right of ${mermaidId(child)} : ${child.description.replace(/\n/g, ' ')}`);
    }
    if (node.initial?.target?.[0]) lines.push(`${indent}[*] --> ${mermaidId(node.initial.target[0])}`);
    for (const child of children) {
      if (Object.keys(child.states).length > 0) {
        lines.push(`${indent}state ${mermaidId(child)} {`);
        walk(child, `${indent}  `);
        lines.push(`${indent}}`);
      }
      for (const [type, transitions] of child.transitions) {
        for (const t of transitions) {
          const target = t.target?.[0];
          if (!target) continue; // actions only: shown on the node's JSON
          lines.push(`${indent}${mermaidId(child)} --> ${mermaidId(target)} : ${eventLabel(type)}${guardLabel(t.guard)}`);
        }
      }
      for (const t of child.always ?? []) {
        if (t.target?.[0]) lines.push(`${indent}${mermaidId(child)} --> ${mermaidId(t.target[0])} : always${guardLabel(t.guard)}`);
      }
      if (child.type === 'final') lines.push(`${indent}${mermaidId(child)} --> [*]`);
    }
  };
  const root = machine.root as unknown as NodeLike;
  if (root.type === 'parallel') {
    for (const region of Object.values(root.states)) {
      lines.push(`  state "${region.key}" as ${mermaidId(region)} {`);
      walk(region, '    ');
      for (const [type, transitions] of region.transitions) {
        for (const t of transitions) if (t.target?.[0]) lines.push(`    note left of ${mermaidId(t.target[0])} : from any ${region.key} state, ${eventLabel(type)}`);
      }
      lines.push('  }');
      lines.push('  --');
    }
    lines.pop();
  } else walk(root, '  ');
  // Transitions declared on the root (any state) are drawn from the machine's outer box.
  for (const [type, transitions] of root.transitions) {
    for (const t of transitions) if (t.target?.[0]) lines.push(`  note left of ${mermaidId(t.target[0])} : from any state, ${eventLabel(type)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The files `tcomms charts` writes: `<id>.json` and `<id>.mmd` per machine. */
export function chartFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const machine of MACHINES) {
    files[`${machine.id}.json`] = `${JSON.stringify(machine.toJSON(), null, 2)}\n`;
    files[`${machine.id}.mmd`] = mermaidOf(machine);
  }
  return files;
}
