export * from './dialer.events.js';
export * from './dialer.machine.js';
export * from './dialer.logic.js';
