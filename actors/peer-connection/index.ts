export * from './peer-connection.events.js';
export * from './peer-connection.machine.js';
export * from './peer-connection.logic.js';
