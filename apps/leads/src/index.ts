/** Public surface of the lead service for end-to-end tests (apps never import apps: lint enforces it). */
export { LeadsModule } from './app.module';
export { loadLeadsConfig } from './config';
