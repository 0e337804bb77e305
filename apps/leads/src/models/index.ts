/** Scoring models as per-workspace data: the model format, the pure engine, the versioned store and its API. */
export * from './scoring-model';
export * from './scoring-engine';
export * from './rule-regex';
export * from './scoring-model.store';
export * from './scoring-model.controller';
export * from './scoring-model-body';
