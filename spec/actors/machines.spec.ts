/**
 * Every machine is pure and named (STYLE.md section 3): no inline action, guard or delay, an id,
 * and a JSON definition for tooling; side effects are named actions, never closures queued
 * inside another action. The machines are those `tcomms charts` draws (`cli/charts.ts`).
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MACHINES } from '../../node/machines.js';

/** Paths of inline (function) implementations in a machine config. */
function inlineImplementations(node: unknown, path: string, out: string[]): string[] {
  if (typeof node === 'function') {
    out.push(path);
    return out;
  }
  if (Array.isArray(node)) node.forEach((x, i) => inlineImplementations(x, `${path}[${i}]`, out));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      // Input, context and params mappers are data plumbing, not behaviour shown on a chart.
      if (key === 'input' || key === 'context' || key === 'params') continue;
      inlineImplementations(value, `${path}.${key}`, out);
    }
  }
  return out;
}

const ACTORS = fileURLToPath(new URL('../../actors/', import.meta.url));

describe('state machines', () => {
  it('cover every actor of the node: the root, its components and the per-lifecycle actors', () => {
    expect(MACHINES.map((m) => m.id).sort()).to.deep.equal(
      ['commsNode', 'connectionManager', 'connectivity', 'dht', 'dial', 'dialer', 'discovery', 'identity', 'listener', 'messaging', 'outbox', 'peerConnection', 'peerManager', 'rpcServer', 'rpcSession', 'rpcClient', 'rpcClientSession', 'networkDiscovery', 'dhtConnectivity', 'saf', 'safRequest'].sort(),
    );
  });

  for (const machine of MACHINES) {
    it(`${machine.id}: named implementations only, exportable as JSON, more than one state`, () => {
      expect(inlineImplementations(machine.config, machine.id, [])).to.deep.equal([]);
      const json = JSON.stringify(machine.toJSON());
      expect(json).to.not.match(/"(actions|entry|exit)":\[[^\]]*null/); // inline actions serialise as null
      expect(JSON.parse(json).id).to.equal(machine.id);
      expect(Object.keys(machine.root.states).length, 'a machine with one state is a smell').to.be.greaterThan(1);
    });
  }

  it('no machine queues a side effect as a closure inside an action (effects are named actions)', () => {
    const offenders: string[] = [];
    for (const dir of readdirSync(ACTORS, { withFileTypes: true })) {
      if (!dir.isDirectory()) continue;
      for (const file of readdirSync(join(ACTORS, dir.name)).filter((f) => f.endsWith('.machine.ts'))) {
        const source = readFileSync(join(ACTORS, dir.name, file), 'utf8');
        if (/enqueue\(\s*\(\)\s*=>/.test(source)) offenders.push(`${dir.name}/${file}`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });

  it('the check finds an inline action', () => {
    expect(inlineImplementations({ on: { a: { actions: () => {} } } }, 'm', [])).to.deep.equal(['m.on.a.actions']);
  });
});
