/** Typed Tor control-port errors. */
import { TcommsError } from '../../core/errors.js';

/** Tor's bytes are not a valid control-protocol reply, or exceed a bound. */
export class TorControlProtocolError extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly detail: string) {
    super(`malformed Tor control reply: ${detail}`);
  }
}

/** Tor answered a command with an error status (4xx/5xx). */
export class TorCommandFailed extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(
    readonly command: string,
    readonly status: number,
    readonly text: string,
  ) {
    super(`Tor refused ${command}: ${status} ${text}`);
  }
}

/** Authentication with the control port failed, or no configured method is offered. */
export class TorAuthenticationFailed extends TcommsError {
  readonly kind = 'config' as const;
}

/** A value given to a command would break its syntax (CR, LF, NUL, or a bad keyword). */
export class TorCommandInvalid extends TcommsError {
  readonly kind = 'config' as const;
}
