/**
 * Typed errors. Every error tcomms raises is a {@link TcommsError}: it is identified by
 * `.name` (one class per condition, the js-libp2p convention) and carries a `kind` that
 * drives policy. Code never branches on message strings.
 */

/** What an error means for the caller. */
export type ErrorKind =
  /** The peer broke the protocol: close the connection and report a violation. */
  | 'protocol'
  /** The transport failed: try the next address. */
  | 'transport'
  /** A wait ran out. */
  | 'timeout'
  /** The caller cancelled. */
  | 'aborted'
  /** The peer is not acceptable (banned, key mismatch). */
  | 'peer'
  /** The peer store failed. */
  | 'storage'
  /** Invalid configuration, thrown at construction. */
  | 'config'
  /** A bug or an unexpected failure inside this node. */
  | 'internal';

/** Options common to every tcomms error. */
export interface TcommsErrorInit {
  cause?: unknown;
}

/** Base class of every error tcomms raises. */
export abstract class TcommsError extends Error {
  /** Policy category of this error. */
  abstract readonly kind: ErrorKind;

  constructor(message: string, init: TcommsErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
  }

  /** A plain, structured-clone-safe form, used to cross worker boundaries. */
  toPlain(): PlainError {
    return { name: this.name, message: this.message, kind: this.kind };
  }
}

/**
 * Makes an error without capturing a stack trace: for conditions peers cause at a high rate (a
 * shed upgrade, an aborted or truncated handshake), where the trace tells nothing and costs most
 * of the error (a socket flood made thousands a second).
 */
export function stackless<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The plain form of any thrown value: a TcommsError's own, or `internal` for anything else. */
export function toPlainError(err: unknown): PlainError {
  if (err instanceof TcommsError) return err.toPlain();
  return { name: (err as Error | undefined)?.name ?? 'Error', message: (err as Error | undefined)?.message ?? String(err), kind: 'internal' };
}

/** The form an error takes when it crosses a worker boundary or an actor mailbox. */
export interface PlainError {
  name: string;
  message: string;
  kind: ErrorKind;
}

/** A protocol violation by the peer. Carries a wire close code where the protocol has one. */
export abstract class ProtocolError extends TcommsError {
  readonly kind = 'protocol' as const;
}

/** Invalid configuration or arguments given by the embedding code. */
export class ConfigError extends TcommsError {
  readonly kind = 'config' as const;
}

/** A wait ran out. */
export class TimeoutError extends TcommsError {
  readonly kind = 'timeout' as const;
}

/** The operation was cancelled by its caller (AbortSignal or close). */
export class AbortedError extends TcommsError {
  readonly kind = 'aborted' as const;
}

/** An unexpected failure inside this node (a bug, or a worker that died). */
export class InternalError extends TcommsError {
  readonly kind = 'internal' as const;
}

/** A key given to this node is not a valid key (PROTOCOL.md section 0). */
export class InvalidPublicKey extends TcommsError {
  readonly kind = 'peer' as const;
  constructor(
    message: string,
    readonly reason: 'length' | 'non-canonical' | 'not-on-curve' | 'small-order' | 'mixed-order',
  ) {
    super(message);
  }
}

/** True when `value` is a tcomms error of the given kind. */
export function isErrorKind(value: unknown, kind: ErrorKind): value is TcommsError {
  return value instanceof TcommsError && value.kind === kind;
}

/**
 * A request to an actor was answered with a failure: `error` is the failure as the actor
 * reported it (plain data), and `kind` is its kind, so policy can branch on it.
 */
export abstract class RequestFailed extends TcommsError {
  readonly kind: PlainError['kind'];
  constructor(readonly error: PlainError) {
    super(`${error.name}: ${error.message}`);
    this.kind = error.kind;
  }
}
