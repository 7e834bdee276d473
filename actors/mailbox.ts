/**
 * Typed mailboxes (STYLE.md section 3, "typed both ways"). A {@link Mailbox} is a reference to
 * an actor typed by the events it takes, so a send to it is checked against its receiver's union
 * and a misspelled event fails `tsc`. Every actor ref of a machine (`ActorRefFrom<...>`) is a
 * mailbox of its own events and of any part of them.
 *
 * `fromCallback` gives its actor an untyped `sendBack`; {@link callbackActor} is the same logic
 * with `sendBack` typed against the events the parent takes.
 */
import { fromCallback, type ActorRef, type ActorSystem, type CallbackActorLogic, type CallbackActorRef, type EventObject, type NonReducibleUnknown, type Snapshot } from 'xstate';

/** An actor as a sender sees it: what it takes (its snapshot and emitted facts are not the sender's business). */
export type Mailbox<TEvent extends EventObject> = ActorRef<Snapshot<unknown>, TEvent, any>;

/** A union without one key in each member (keeps the union distributive). */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What a typed callback actor's function is given. */
export interface CallbackArgs<TEvent extends EventObject, TInput, TSent extends EventObject> {
  input: TInput;
  system: ActorSystem<any>;
  /** This actor (the parent of what it creates). */
  self: CallbackActorRef<TEvent>;
  /** Sends to the parent, checked against `TSent` (what the parent takes from this actor). */
  sendBack: (event: TSent) => void;
  /** Registers the handler of the events this actor takes. */
  receive: (listener: (event: TEvent) => void) => void;
}

/**
 * A callback actor whose `sendBack` is typed: `TEvent` is what it takes, `TSent` what it may
 * send its parent. The function returns its cleanup, as with `fromCallback`.
 */
export function callbackActor<TEvent extends EventObject, TInput = NonReducibleUnknown, TSent extends EventObject = never>(
  run: (args: CallbackArgs<TEvent, TInput, TSent>) => (() => void) | void,
): CallbackActorLogic<TEvent, TInput> {
  return fromCallback<TEvent, TInput>(({ input, system, self, sendBack, receive }) => run({ input, system, self, sendBack, receive }));
}
