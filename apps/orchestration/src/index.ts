/** Public surface of the orchestration service for end-to-end tests (apps never import apps: lint enforces it). */
export { OrchestrationModule } from './app.module';
export { loadOrchestrationConfig } from './config';
