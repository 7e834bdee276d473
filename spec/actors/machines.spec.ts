/**
 * Every machine is pure and named (STYLE.md section 3): no inline action, guard or delay, an id,
 * and a JSON definition for tooling. New machines are added to MACHINES.
 */
import { expect } from 'chai';
import type { AnyStateMachine } from 'xstate';
import { connectionManagerMachine } from '../../actors/connection-manager/index.js';
import { dialerMachine } from '../../actors/dialer/index.js';
import { listenerMachine } from '../../actors/listener/index.js';
import { peerManagerMachine } from '../../actors/peer-manager/index.js';
import { peerConnectionMachine } from '../../actors/peer-connection/index.js';
import { connectivityMachine } from '../../actors/connectivity/index.js';
import { messagingMachine } from '../../actors/messaging/index.js';
import { outboxMachine } from '../../actors/outbox/index.js';

const MACHINES: AnyStateMachine[] = [peerManagerMachine, listenerMachine, dialerMachine, connectionManagerMachine, peerConnectionMachine, connectivityMachine, outboxMachine, messagingMachine];

/** Paths of inline (function) implementations in a machine config. */
function inlineImplementations(node: unknown, path: string, out: string[]): string[] {
  if (typeof node === 'function') {
    out.push(path);
    return out;
  }
  if (Array.isArray(node)) node.forEach((x, i) => inlineImplementations(x, `${path}[${i}]`, out));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      // Input mappers and context factories are data plumbing, not behaviour shown on a chart.
      if (key === 'input' || key === 'context') continue;
      inlineImplementations(value, `${path}.${key}`, out);
    }
  }
  return out;
}

describe('state machines', () => {
  for (const machine of MACHINES) {
    it(`${machine.id}: named implementations only, exportable as JSON`, () => {
      expect(inlineImplementations(machine.config, machine.id, [])).to.deep.equal([]);
      const json = JSON.stringify(machine.toJSON());
      expect(json).to.not.match(/"(actions|entry|exit)":\[[^\]]*null/); // inline actions serialise as null
      expect(JSON.parse(json).id).to.equal(machine.id);
    });
  }

  it('the check finds an inline action', () => {
    expect(inlineImplementations({ on: { a: { actions: () => {} } } }, 'm', [])).to.deep.equal(['m.on.a.actions']);
  });
});
