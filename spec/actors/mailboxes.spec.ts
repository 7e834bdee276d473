/**
 * Mailboxes are typed both ways (STYLE.md section 3): the type checker runs over a fixture with
 * one misspelled event per mailbox (`spec/fixtures/types/mailboxes.ts`), each marked
 * `@ts-expect-error`. As written it must compile; with the marks taken out it must report an
 * error on exactly the marked lines, so a mailbox that stopped being typed fails this test.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/types/mailboxes.ts', import.meta.url));
const MARK = '// @ts-expect-error';

/** The type errors of the fixture, with its source replaced by `source`, as 1-based line numbers. */
function errorLines(source: string): number[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(`${ROOT}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
  const host = ts.createCompilerHost(parsed.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => (name === FIXTURE ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest));
  const program = ts.createProgram({ rootNames: [FIXTURE], options: { ...parsed.options, noEmit: true }, host });
  const file = program.getSourceFile(FIXTURE)!;
  return ts
    .getPreEmitDiagnostics(program, file)
    .filter((d) => d.file?.fileName === FIXTURE)
    .map((d) => file.getLineAndCharacterOfPosition(d.start!).line + 1);
}

describe('typed mailboxes', function () {
  this.timeout(120_000);
  const source = readFileSync(FIXTURE, 'utf8');
  const lines = source.split('\n');
  /** The lines right after each mark: the misspellings. */
  const marked = lines.flatMap((l, i) => (l.trim().startsWith(MARK) ? [i + 2] : []));

  it('the fixture marks a misspelling for every mailbox (at least 25)', () => {
    expect(marked.length).to.be.at.least(25);
  });

  it('compiles as written: every marked line is an error', () => {
    expect(errorLines(source)).to.deep.equal([]);
  });

  it('without the marks, the type checker rejects exactly the misspelled lines', () => {
    const unmarked = lines.map((l) => (l.trim().startsWith(MARK) ? '' : l)).join('\n');
    expect([...new Set(errorLines(unmarked))].sort((a, b) => a - b)).to.deep.equal(marked);
  });
});
