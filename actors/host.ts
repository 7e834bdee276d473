/**
 * An actor host: a callback actor that a machine invokes at its root to run many actors of one
 * kind (one per connection, one per peer with messages) by id.
 *
 * Why not spawned children: XState copies a machine's `children` on every spawn and stop, so a
 * machine with n spawned children pays O(n) for each one it adds or removes (at 4,000
 * connections, a third of the listener's time per connect). A hosted actor is created with the
 * host as its parent, so it belongs to the same actor system (inspection sees it), while the
 * machine's snapshot lists only the host.
 *
 * A hosted actor ends by itself (a final state) and its owner then releases it; the host forgets
 * an actor that ended on its own as well. A crash (a bug) is reported to the owner. When the
 * host stops, with its owner, each actor still running is sent `onHostStop` (XState lets only a
 * parent's own machinery stop a child, so the actor must end itself).
 */
import { createActor, fromCallback, type AnyActorRef, type AnyStateMachine, type CallbackActorLogic, type EventFromLogic, type EventObject, type InputFrom } from 'xstate';

/** What a host takes. */
export type HostCommand<TInput, TEvent extends EventObject> =
  /** Starts an actor under `id` (ignored when `id` is running). */
  | { type: 'host.start'; id: string; input: TInput }
  /** Passes an event to the actor `id`, if running. */
  | { type: 'host.send'; id: string; event: TEvent }
  /** Forgets the actor `id` (it ended, or was told to). */
  | { type: 'host.release'; id: string }
  /** Diagnostics: `replyTo` gets `{ type: 'host.counted', hosted }`, the actors held now. */
  | { type: 'host.count'; replyTo: AnyActorRef };

/** The host's commands for actors of a machine. */
export type HostCommandOf<TLogic extends AnyStateMachine> = HostCommand<InputFrom<TLogic>, EventFromLogic<TLogic>>;

/** What a host is started with: the actor it reports to. */
export interface HostInput {
  parent: AnyActorRef;
}

/** How to run the hosted actors of one kind. */
export interface HostOptions<TLogic extends AnyStateMachine> {
  /** The event that makes a running actor end itself, sent to each when the host stops. */
  onHostStop: EventFromLogic<TLogic>;
  /**
   * The event the owner gets when the actor `id` crashed. `hosted` is false for an actor the
   * owner had released already (it crashed while ending): `id` may by then name a newer actor.
   */
  crashed: (id: string, error: unknown, hosted: boolean) => EventObject;
}

/** A host for actors of `logic` (see the module comment). */
export function actorHost<TLogic extends AnyStateMachine>(logic: TLogic, options: HostOptions<TLogic>): CallbackActorLogic<HostCommandOf<TLogic>, HostInput> {
  return fromCallback<HostCommandOf<TLogic>, HostInput>(({ input, receive, self }) => {
    const hosted = new Map<string, AnyActorRef>();
    const forget = (id: string, actor: AnyActorRef) => {
      if (hosted.get(id) === actor) hosted.delete(id);
    };
    receive((command) => {
      switch (command.type) {
        case 'host.start': {
          if (hosted.has(command.id)) return;
          const actor = createActor(logic, { id: command.id, input: command.input, parent: self });
          actor.subscribe({
            complete: () => forget(command.id, actor),
            error: (err) => {
              const hostedNow = hosted.get(command.id) === actor;
              forget(command.id, actor);
              input.parent.send(options.crashed(command.id, err, hostedNow));
            },
          });
          hosted.set(command.id, actor);
          actor.start();
          return;
        }
        case 'host.send':
          hosted.get(command.id)?.send(command.event);
          return;
        case 'host.release':
          hosted.delete(command.id);
          return;
        case 'host.count':
          command.replyTo.send({ type: 'host.counted', hosted: hosted.size });
          return;
      }
    });
    return () => {
      const running = [...hosted.values()];
      hosted.clear();
      for (const actor of running) if (actor.getSnapshot().status === 'active') actor.send(options.onHostStop);
    };
  });
}
