export * from './blast-radius.js';
export * from './effective-config.js';
export * from './live.js';
export * from './proxy-status.js';
export * from './rollout.js';
export * from './self-checks.js';
export * from './traces.js';
export * from './zones.js';
