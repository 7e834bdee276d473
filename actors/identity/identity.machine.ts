/**
 * The identity actor's state chart (PROTOCOL.md section 5). It holds the node identity and its
 * signed claim (`PeerIdentityMsg`), which every connection upgrade sends as it is.
 *
 * unbound: no listener is bound yet; the claim names the configured public addresses, or none
 * (a node that only dials stays here). bound: the claim names the bound addresses a peer can
 * dial (or the public ones). Whenever the signed fields change (addresses, features) the claim
 * is signed again with a new `updated_at`, never earlier than the last; a change of the
 * protocols served re-encodes it (they are not signed). Each new claim is published as
 * `identity.updated`; `identity.get-claim` answers with the current one.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { enqueueActions, setup } from 'xstate';
import type { NodeIdentity } from '../../core/keys.js';
import type { IdentityContent } from '../../protocols/identity/index.js';
import type { IdentityEmitted, IdentityEvent, IdentityReply, SignedClaim } from './identity.events.js';
import { claimedAddresses, nextUpdatedAt, sameSignedFields, signClaim } from './identity.logic.js';

/** What the identity actor is started with. */
export interface IdentityInput {
  identity: NodeIdentity;
  /** Addresses claimed whatever the listeners bind (at most 5); undefined: the bound ones. */
  publicAddresses?: readonly string[];
  features: number;
  userAgent: string;
  protocols: readonly string[];
  /** Unix seconds now (the node's clock). */
  nowSeconds: () => bigint;
}

/** The identity actor's context. */
export interface IdentityContext {
  input: IdentityInput;
  bound: readonly Multiaddr[];
  claim: SignedClaim;
}

/** The claim for `content` (signed again only when its signed fields changed). */
function nextClaim(context: Pick<IdentityContext, 'input'> & { claim?: SignedClaim }, content: Omit<IdentityContent, 'updatedAt'>): SignedClaim {
  const previous = context.claim;
  const updatedAt = previous && sameSignedFields(previous.content, content) ? previous.content.updatedAt : nextUpdatedAt(previous?.content.updatedAt, context.input.nowSeconds());
  return signClaim(context.input.identity, { ...content, updatedAt });
}

const contentOf = (c: IdentityContext) => c.claim.content;

/** The identity state chart (see the module comment). */
export const identityMachine = setup({
  types: {
    context: {} as IdentityContext,
    events: {} as IdentityEvent,
    input: {} as IdentityInput,
    emitted: {} as IdentityEmitted,
  },
  guards: {
    addressesChanged: ({ context, event }) =>
      event.type === 'identity.addresses-bound' && !sameSignedFields(contentOf(context), { ...contentOf(context), addresses: claimedAddresses(context.input.publicAddresses, event.addresses) }),
    featuresChanged: ({ context, event }) => event.type === 'identity.features-changed' && event.features !== contentOf(context).features,
    protocolsChanged: ({ context, event }) => event.type === 'identity.protocols-changed' && event.protocols.join('\n') !== contentOf(context).supportedProtocols.join('\n'),
  },
  actions: {
    /** A new claim from the event's change; published as `identity.updated`. */
    reclaim: enqueueActions(({ context, event, enqueue }) => {
      const now = contentOf(context);
      let bound = context.bound;
      let content: Omit<IdentityContent, 'updatedAt'> = now;
      if (event.type === 'identity.addresses-bound') {
        bound = event.addresses;
        content = { ...now, addresses: claimedAddresses(context.input.publicAddresses, bound) };
      } else if (event.type === 'identity.features-changed') content = { ...now, features: event.features };
      else if (event.type === 'identity.protocols-changed') content = { ...now, supportedProtocols: [...event.protocols] };
      else return;
      const claim = nextClaim(context, content);
      enqueue.assign({ bound, claim });
      enqueue.emit({ type: 'identity.updated', ...claim });
    }),
    rememberBound: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'identity.addresses-bound') enqueue.assign({ bound: event.addresses });
    }),
    answerClaim: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'identity.get-claim') return;
      const reply: IdentityReply = { type: 'identity.claim', requestId: event.requestId, ...context.claim };
      if (event.replyTo) enqueue.sendTo(event.replyTo, reply);
      else enqueue.emit(reply);
    }),
  },
}).createMachine({
  id: 'identity',
  context: ({ input }) => ({
    input,
    bound: [],
    claim: nextClaim({ input }, { addresses: claimedAddresses(input.publicAddresses, []), features: input.features, supportedProtocols: [...input.protocols], userAgent: input.userAgent }),
  }),
  initial: 'unbound',
  on: {
    'identity.features-changed': { guard: 'featuresChanged', actions: 'reclaim' },
    'identity.protocols-changed': { guard: 'protocolsChanged', actions: 'reclaim' },
    'identity.get-claim': { actions: 'answerClaim' },
    'identity.stop': { target: '.stopped' },
  },
  states: {
    unbound: {
      description: 'No listener bound yet: the claim names the configured public addresses, or none.',
      on: {
        'identity.addresses-bound': [
          { guard: 'addressesChanged', target: 'bound', actions: 'reclaim' },
          { target: 'bound', actions: 'rememberBound' },
        ],
      },
    },
    bound: {
      description: 'The claim names the bound addresses a peer can dial (or the public ones); signed again when they change.',
      on: {
        'identity.addresses-bound': [{ guard: 'addressesChanged', actions: 'reclaim' }, { actions: 'rememberBound' }],
      },
    },
    stopped: { type: 'final' },
  },
});
