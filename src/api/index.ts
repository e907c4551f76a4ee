/**
 * @module api
 * mosnode's public plugin API: what `import ... from 'mosnode'` gives a filter author.
 * Everything exported here is stable; nothing here reaches into mosnode's internals.
 */
export * from './network-filter.ts';
export * from './listener-filter.ts';
export * from './upstream.ts';
export * from './headers.ts';
export * from './stream-filter.ts';
export * from './filter-factory.ts';
export * from './registry.ts';
export * from './config-helpers.ts';
export * from './plugin.ts';
export { MosnError, ErrorCodes, type ErrorCode } from '../core/errors.ts';
export type { Logger } from '../core/logger.ts';
