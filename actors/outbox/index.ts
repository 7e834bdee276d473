export * from './outbox-queue.js';
export * from './outbox.events.js';
export * from './outbox.machine.js';
export * from './outbox.logic.js';
