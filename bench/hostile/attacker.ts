/**
 * The attacker process of `bench:hostile`: runs the attack named in its argument (JSON: attack,
 * target, addresses, seconds) against the victim, then prints what it did as one JSON line
 * (its counters, its own CPU time and peak RSS) and exits.
 */
import { ATTACKS, type AttackContext } from './attacks.js';
import type { Target } from './raw-peer.js';

const { attack, target, addresses, seconds } = JSON.parse(process.argv[2]!) as { attack: string; target: Target; addresses: string[]; seconds: number };
const run = ATTACKS[attack];
if (!run) throw new Error(`no attack named ${attack}`);
const started = performance.now();
const ctx: AttackContext = { target, addresses, deadline: started + seconds * 1000, stats: {} };
// A hard stop a little after the deadline, whatever the attack is waiting for.
const hard = setTimeout(() => finish('hard stop'), seconds * 1000 + 15_000);
let done = false;
function finish(how: string): void {
  if (done) return;
  done = true;
  clearTimeout(hard);
  const { user, system } = process.cpuUsage();
  const report = { ...ctx.stats, ranMs: Math.round(performance.now() - started), cpuMs: Math.round((user + system) / 1000), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), ended: how };
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}
run(ctx).then(
  () => finish('done'),
  (err: unknown) => {
    ctx.stats.failed = 1;
    process.stderr.write(`attack ${attack} failed: ${String(err)}\n`);
    finish('failed');
  },
);
