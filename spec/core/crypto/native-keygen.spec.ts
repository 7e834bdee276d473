import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

describe('native provider key generation', () => {
  // Regression: generateKeyPairSync + KeyObject.export deadlocked Node 20 when a GC ran inside
  // the export (it hung a CI run). A tiny young generation makes GCs happen all the time.
  it('generates thousands of key pairs under constant GC without deadlocking', function () {
    this.timeout(90_000);
    return new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--max-semi-space-size=1', '--import', 'tsx', 'spec/fixtures/scripts/keygen-under-gc.ts', '20000'],
        { cwd: ROOT, timeout: 80_000, killSignal: 'SIGKILL' },
        (err, stdout) => {
          if (err !== null) return reject(new Error(`child did not finish (${err.signal ?? err.code}); a deadlock if killed`));
          try {
            expect(stdout.trim()).to.equal('20000');
            resolve();
          } catch (e) {
            reject(e as Error);
          }
        },
      );
    });
  });
});
