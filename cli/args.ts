/**
 * A small argv parser for the `tcomms` command: `--name value`, `--name=value`, repeated
 * options, boolean flags; anything unknown is a `UsageError` (exit code 2).
 */
import { TcommsError } from '../core/errors.js';

/** A command line a person got wrong: printed as one line, exit code 2. */
export class UsageError extends TcommsError {
  readonly kind = 'config' as const;
}

/** What a command accepts: option name -> `string`, `strings` (repeatable) or `flag`. */
export type OptionSpec = Record<string, 'string' | 'strings' | 'flag'>;

/** Parsed options and positional arguments. */
export interface ParsedArgs {
  options: Record<string, string | string[] | boolean | undefined>;
  positional: string[];
}

/** Parses `argv` (after the command name) against `spec`. */
export function parseArgs(argv: readonly string[], spec: OptionSpec): ParsedArgs {
  const options: ParsedArgs['options'] = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'flag') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    if (kind === 'strings') options[name] = [...((options[name] as string[] | undefined) ?? []), value];
    else options[name] = value;
  }
  return { options, positional };
}

/** An integer option within bounds (a `UsageError` otherwise). */
export function intOption(value: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^0x[0-9a-f]+$/i.test(value) ? Number.parseInt(value, 16) : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  return n;
}
