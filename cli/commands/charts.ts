/** `tcomms charts [--out DIR]`: every machine's JSON definition and Mermaid state diagram. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartFiles } from '../../node/machines.js';
import { parseArgs } from '../args.js';

/** Runs `tcomms charts`. */
export async function chartsCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { out: 'string' });
  const dir = (args.options.out as string | undefined) ?? 'docs/charts';
  mkdirSync(dir, { recursive: true });
  const files = chartFiles();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  process.stdout.write(`wrote ${Object.keys(files).length} files to ${dir}\n`);
  return 0;
}
