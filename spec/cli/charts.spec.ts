import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { chartFiles, MACHINES, mermaidOf } from '../../node/machines.js';
import { peerConnectionMachine } from '../../actors/peer-connection/index.js';

const DOCS = fileURLToPath(new URL('../../docs/charts', import.meta.url));

describe('state charts', () => {
  it('docs/charts is up to date (run `npm run tcomms -- charts` after changing a machine)', () => {
    const files = chartFiles();
    expect(readdirSync(DOCS).sort()).to.deep.equal(Object.keys(files).sort());
    for (const [name, text] of Object.entries(files)) expect(readFileSync(join(DOCS, name), 'utf8'), `docs/charts/${name} is stale`).to.equal(text);
  });

  it('covers every machine, and the diagram shows named guards and delays', () => {
    expect(MACHINES.map((m) => m.id)).to.include.members(['peerConnection', 'connectivity', 'dialer', 'listener', 'connectionManager', 'peerManager', 'messaging', 'outbox']);
    const chart = mermaidOf(peerConnectionMachine);
    expect(chart).to.match(/^stateDiagram-v2\n/);
    expect(chart).to.include('peerConnection_active_pinging --> peerConnection_closing : after keepaliveInterval [keepaliveExhausted]');
    expect(chart).to.include('peerConnection_active --> peerConnection_closing : peer-connection.disconnect');
  });
});
