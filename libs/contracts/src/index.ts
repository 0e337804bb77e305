/** Event types, topic names and the integration catalog, generated from schemas/ (see tools/codegen). */
export * from './generated';
export * from './topic-event';
