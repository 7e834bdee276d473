export * from './dht-connectivity-config.js';
export * from './dht-connectivity.events.js';
export * from './dht-connectivity.machine.js';
export * from './dht-connectivity.logic.js';
export * from './pools.js';
