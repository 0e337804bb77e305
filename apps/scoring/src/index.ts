/** Public surface of the scoring service for end-to-end tests (apps never import apps: lint enforces it). */
export { ScoringModule } from './app.module';
export { loadScoringConfig } from './config';
