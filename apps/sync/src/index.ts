/** Public surface of the sync service for end-to-end tests (apps never import apps: lint enforces it). */
export { SyncModule } from './app.module';
export { loadSyncConfig } from './config';
