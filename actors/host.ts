/**
 * An actor host: a callback actor that a machine keeps for its whole life to run many actors of
 * one kind (one per connection, one per peer with messages), each under a key.
 *
 * Why not spawned children: XState copies a machine's `children` on every spawn and stop, so a
 * machine with n spawned children pays O(n) for each one it adds or removes (at 4,000
 * connections, a third of the listener's time per connect: `npm run bench:scale` went from 58
 * to 352 connects/s at 4,000 held connections with the host). A hosted actor is created with
 * the host as its parent, so it belongs to the same actor system (inspection sees it, its
 * timers run on the system's clock), while the owner's snapshot lists only the host.
 *
 * The owner reaches its hosted actors through a {@link HostDirectory}, a typed lookup by key
 * (the host fills it; nobody else writes it). A hosted actor ends by itself (a final state) and
 * the owner then releases it; the host forgets one that ended on its own as well. A crash (a
 * bug) is reported to the owner. When the host stops, with its owner, each actor still running
 * is sent `onHostStop` (XState lets only a parent's own machinery stop a child, so the actor
 * must end itself).
 */
import { createActor, type Actor, type AnyStateMachine, type CallbackActorLogic, type EventFromLogic, type EventObject, type InputFrom } from 'xstate';
import { callbackActor, type Mailbox } from './mailbox.js';

/** The hosted actors by key, for lookups (read-only to everyone but the host). */
export class HostDirectory<TRef> {
  readonly #actors = new Map<string, TRef>();

  /** The actor running under `key`, if any. */
  get(key: string): TRef | undefined {
    return this.#actors.get(key);
  }

  /** Actors hosted now. */
  get size(): number {
    return this.#actors.size;
  }

  /** @internal the host's own bookkeeping */
  set(key: string, actor: TRef): void {
    this.#actors.set(key, actor);
  }

  /** @internal the host's own bookkeeping */
  delete(key: string, actor?: TRef): void {
    if (actor === undefined || this.#actors.get(key) === actor) this.#actors.delete(key);
  }

  /** @internal */
  drain(): TRef[] {
    const all = [...this.#actors.values()];
    this.#actors.clear();
    return all;
  }
}

/** What a host takes. */
export type HostCommand<TInput, TEvent extends EventObject> =
  /** Starts an actor under `key` with the readable actor id `id` (ignored when `key` is running). */
  | { type: 'host.start'; key: string; id: string; input: TInput }
  /** Passes an event to the actor under `key`, if running. */
  | { type: 'host.send'; key: string; event: TEvent }
  /** Forgets the actor under `key` (it ended, or was told to). */
  | { type: 'host.release'; key: string };

/** The host's commands for actors of a machine. */
export type HostCommandOf<TLogic extends AnyStateMachine> = HostCommand<InputFrom<TLogic>, EventFromLogic<TLogic>>;

/** What a host is started with: the directory it keeps. */
export interface HostInput<TLogic extends AnyStateMachine> {
  directory: HostDirectory<Actor<TLogic>>;
}

/** How to run the hosted actors of one kind; `TReport` is what the host tells its owner. */
export interface HostOptions<TLogic extends AnyStateMachine, TReport extends EventObject> {
  /** The event that makes a running actor end itself, sent to each when the host stops. */
  onHostStop: EventFromLogic<TLogic>;
  /**
   * The event the owner gets when the actor under `key` crashed. `hosted` is false for an actor
   * the owner had released already (it crashed while ending): `key` may by then name a newer one.
   */
  crashed: (key: string, error: unknown, hosted: boolean) => TReport;
}

/** A host for actors of `logic` (see the module comment). */
export function actorHost<TLogic extends AnyStateMachine, TReport extends EventObject>(
  logic: TLogic,
  options: HostOptions<TLogic, TReport>,
): CallbackActorLogic<HostCommandOf<TLogic>, HostInput<TLogic>> {
  return callbackActor<HostCommandOf<TLogic>, HostInput<TLogic>, TReport>(({ input, receive, sendBack, self }) => {
    const { directory } = input;
    receive((command) => {
      switch (command.type) {
        case 'host.start': {
          if (directory.get(command.key)) return;
          const actor = createActor(logic, { id: command.id, input: command.input, parent: self });
          actor.subscribe({
            complete: () => directory.delete(command.key, actor),
            error: (err) => {
              const hostedNow = directory.get(command.key) === actor;
              directory.delete(command.key, actor);
              sendBack(options.crashed(command.key, err, hostedNow));
            },
          });
          directory.set(command.key, actor);
          actor.start();
          return;
        }
        case 'host.send':
          directory.get(command.key)?.send(command.event);
          return;
        case 'host.release':
          directory.delete(command.key);
          return;
      }
    });
    return () => {
      // The directory holds running actors only: one that ended or crashed was taken out.
      for (const actor of directory.drain()) actor.send(options.onHostStop);
    };
  });
}

/** The mailbox of a host of actors of `TLogic`. */
export type HostMailbox<TLogic extends AnyStateMachine> = Mailbox<HostCommandOf<TLogic>>;
