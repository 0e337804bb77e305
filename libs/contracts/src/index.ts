/**
 * Event types, topic names and the integration catalog, generated from schemas/, and the services with the scopes each
 * honours, generated from tools/services/services.json (see tools/codegen).
 */
export * from './generated';
export * from './topic-event';
