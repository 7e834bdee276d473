/**
 * `npm run memorynet -- [--nodes 1000] [--wallets 50] [--seed N] [--json] [--report FILE.html]`
 * (issue 21): an in-process network of full tcomms nodes on the memory transport (see
 * `memorynet/`). Progress goes to standard error; the summary to standard output, or with
 * `--json` one JSON object as the last line of standard output. Exit code 1 when a target of
 * the issue was missed, 2 on a usage error.
 */
import { writeFileSync } from 'node:fs';
import { intOption, parseArgs, UsageError } from '../cli/args.js';
import { DEFAULT_MEMORYNET_OPTIONS, type MemorynetOptions } from './memorynet/options.js';
import { ProgressBar } from './memorynet/progress.js';
import { htmlReport } from './memorynet/report.js';
import { runMemorynet } from './memorynet/run.js';
import { jsonLine, summary, targetsMissed } from './memorynet/summary.js';

function options(argv: readonly string[]): MemorynetOptions & { json: boolean; report: string | undefined; quiet: boolean } {
  const { options: o, positional } = parseArgs(argv, { nodes: 'string', wallets: 'string', seed: 'string', json: 'flag', report: 'string', quiet: 'flag', 'saf-rounds': 'string', keepalive: 'string', minimize: 'flag', 'no-minimize': 'flag', 'neighbour-settle': 'string' });
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]}`);
  const d = DEFAULT_MEMORYNET_OPTIONS;
  return {
    ...d,
    nodes: intOption(o.nodes as string | undefined, 'nodes', 1, 20_000, d.nodes),
    wallets: intOption(o.wallets as string | undefined, 'wallets', 0, 5_000, d.wallets),
    seed: intOption(o.seed as string | undefined, 'seed', 0, 0xffffffff, d.seed),
    safRounds: intOption(o['saf-rounds'] as string | undefined, 'saf-rounds', 0, 100, d.safRounds),
    keepaliveIntervalMs: intOption(o.keepalive as string | undefined, 'keepalive', 0, 3_600_000, d.keepaliveIntervalMs),
    minimizeConnections: o['no-minimize'] === true ? false : o.minimize === true || d.minimizeConnections,
    ...(o['neighbour-settle'] === undefined ? {} : { neighbourSettleMs: intOption(o['neighbour-settle'] as string, 'neighbour-settle', 1, 3_600_000, 30_000) }),
    json: o.json === true,
    report: o.report as string | undefined,
    quiet: o.quiet === true,
  };
}

let opts: ReturnType<typeof options>;
try {
  opts = options(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`memorynet: ${err.message}\nusage: npm run memorynet -- [--nodes 1000] [--wallets 50] [--seed N] [--saf-rounds 5] [--keepalive MS] [--minimize] [--neighbour-settle MS] [--json] [--report FILE.html] [--quiet]\n`);
  process.exit(2);
}
const result = await runMemorynet(opts, opts.quiet ? {} : { progress: new ProgressBar(process.stderr) });
if (opts.report !== undefined) {
  writeFileSync(opts.report, htmlReport(result));
  process.stderr.write(`report: ${opts.report}\n`);
}
if (opts.json) process.stdout.write(`${jsonLine(result)}\n`);
else process.stdout.write(summary(result));
process.exit(targetsMissed(result).length > 0 ? 1 : 0);
