/** Public surface of the ingestion service for end-to-end tests (apps never import apps: lint enforces it). */
export { IngestionModule } from './app.module';
export { loadIngestionConfig } from './config';
