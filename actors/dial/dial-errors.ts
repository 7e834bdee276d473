/** The dial's typed errors. */
import { TcommsError, type PlainError } from '../../core/errors.js';

/** Every address failed in every round; `attempts` says how each one failed. */
export class DialExhausted extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly attempts: Array<{ address: string; error: PlainError }>) {
    super(attempts.length === 0 ? 'no address to dial' : `all ${attempts.length} attempts failed; last: ${attempts.at(-1)!.error.name}: ${attempts.at(-1)!.error.message}`);
  }
}
