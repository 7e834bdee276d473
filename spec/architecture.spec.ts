import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Imports flow one way (STYLE.md): cli -> node -> actors -> channels -> {transports, storage, workers}
 * -> {protocols, proto} -> core. A layer may import itself and anything below it; `bench` and
 * `fuzz` sit above everything and may import anything.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RANK: Record<string, number> = { core: 0, protocols: 1, proto: 1, transports: 2, storage: 2, workers: 2, channels: 3, actors: 4, node: 5, cli: 6, bench: 7, fuzz: 7 };
/** Sans-I/O cores: no sockets, timers, clocks or actors. */
const FORBIDDEN_IN_PROTOCOLS = [/from 'node:net'/, /from 'node:dgram'/, /from 'xstate'/, /\bsetTimeout\(/, /\bsetInterval\(/, /\bDate\.now\(/];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('architecture', () => {
  const layers = Object.keys(RANK).filter((l) => {
    try {
      return statSync(join(ROOT, l)).isDirectory();
    } catch {
      return false;
    }
  });

  it('imports only flow downwards between layers', () => {
    const violations: string[] = [];
    for (const layer of layers) {
      for (const file of files(join(ROOT, layer))) {
        const source = readFileSync(file, 'utf8');
        for (const m of source.matchAll(/from '(\.[^']+)'/g)) {
          const target = relative(ROOT, join(file, '..', m[1]!)).split(/[\\/]/)[0]!;
          if (RANK[target] !== undefined && RANK[target]! > RANK[layer]!) violations.push(`${relative(ROOT, file)} -> ${m[1]}`);
        }
      }
    }
    expect(violations).to.deep.equal([]);
  });

  it('protocol cores do no I/O and read no clock', () => {
    const violations: string[] = [];
    for (const file of files(join(ROOT, 'protocols'))) {
      const source = readFileSync(file, 'utf8');
      for (const re of FORBIDDEN_IN_PROTOCOLS) if (re.test(source)) violations.push(`${relative(ROOT, file)}: ${re}`);
    }
    expect(violations).to.deep.equal([]);
  });
});
