/** Every exported declaration of the library carries a TSDoc comment (generated code excepted). */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LIBRARY = ['core', 'protocols', 'transports', 'storage', 'workers', 'channels', 'actors', 'node', 'cli'];
const EXPORT = /^export (?:declare )?(?:abstract )?(?:async )?(?:class|function|const|let|interface|type|enum) (\w+)/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'gen' ? [] : files(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('documentation', () => {
  it('every exported declaration has a TSDoc comment', () => {
    const undocumented: string[] = [];
    for (const layer of LIBRARY) {
      for (const file of files(join(ROOT, layer))) {
        const lines = readFileSync(file, 'utf8').split('\n');
        lines.forEach((line, i) => {
          const m = EXPORT.exec(line);
          if (m && !(lines[i - 1] ?? '').trim().endsWith('*/')) undocumented.push(`${relative(ROOT, file)}:${i + 1} ${m[1]}`);
        });
      }
    }
    expect(undocumented).to.deep.equal([]);
  });
});
