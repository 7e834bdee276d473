/**
 * `onOneCpu`, which the end-to-end benchmark uses for its one-CPU RTT rows: the processes run
 * `fn` on one CPU (the first this process may use), a process started meanwhile inherits it,
 * and each gets its CPUs back.
 */
import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { onOneCpu } from '../../bench/e2e/remote.js';
import { skipIfMissing } from '../support/processes.js';

const cpusOf = (pid: number) => execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' }).trim().split(': ').at(-1);

describe('bench: onOneCpu', function () {
  let hasTaskset = true;
  before(function () {
    try {
      execFileSync('taskset', ['-c', '-p', String(process.pid)], { stdio: 'ignore' });
    } catch {
      hasTaskset = false;
    }
  });

  it('pins the processes to one CPU while fn runs, and gives each its CPUs back', async function () {
    skipIfMissing(this, hasTaskset ? undefined : 'taskset cannot pin this process (not Linux, or util-linux is missing)'); // onOneCpu then answers undefined, as the next test checks
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const own = cpusOf(process.pid)!;
      const theirs = cpusOf(sleeper.pid!);
      const first = String(parseInt(own, 10)); // this process's first CPU (CPU 0 may not be offered)
      const seen = await onOneCpu([process.pid, sleeper.pid!], async () => {
        const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, 100));
        const inherited = cpusOf(child.pid!);
        child.kill();
        return { self: cpusOf(process.pid), sleeper: cpusOf(sleeper.pid!), inherited };
      });
      expect(seen).to.deep.equal({ self: first, sleeper: first, inherited: first });
      expect(cpusOf(process.pid)).to.equal(own);
      expect(cpusOf(sleeper.pid!)).to.equal(theirs);
    } finally {
      sleeper.kill();
      await once(sleeper, 'exit');
    }
  });

  it('answers undefined without running fn when a process cannot be pinned, and restores on a throwing fn', async () => {
    let ran = false;
    // pid 2^22 + 1 is above Linux's largest pid: taskset fails.
    expect(await onOneCpu([4_194_305], async () => (ran = true))).to.equal(undefined);
    expect(ran).to.equal(false);
    if (!hasTaskset) return;
    const own = cpusOf(process.pid);
    const err = await onOneCpu([process.pid], async () => {
      throw new Error('inside');
    }).catch((e: unknown) => e);
    expect(String(err)).to.contain('inside');
    expect(cpusOf(process.pid)).to.equal(own);
  });
});
