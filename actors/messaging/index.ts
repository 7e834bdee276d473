export * from './messaging.events.js';
export * from './messaging.machine.js';
export * from './messaging.logic.js';
export type { SendOutcome } from '../outbox/outbox-queue.js';
