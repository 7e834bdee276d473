/** The generated protobuf code is what `npm run proto:gen` makes from proto/ today (never hand-edited, never stale). */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

describe('generated protobuf code', function () {
  this.timeout(60_000);
  it('matches a fresh `buf generate` of proto/', () => {
    const out = mkdtempSync(join(tmpdir(), 'tcomms-proto-'));
    try {
      execFileSync(join(ROOT, 'node_modules/.bin/buf'), ['generate', '--output', out], { cwd: join(ROOT, 'proto'), stdio: 'pipe', timeout: 50_000 });
      const fresh = files(join(out, 'gen')).map((f) => relative(join(out, 'gen'), f)).sort();
      const committed = files(join(ROOT, 'proto/gen')).map((f) => relative(join(ROOT, 'proto/gen'), f)).sort();
      expect(committed).to.deep.equal(fresh);
      for (const f of fresh) expect(readFileSync(join(ROOT, 'proto/gen', f), 'utf8'), f).to.equal(readFileSync(join(out, 'gen', f), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
