/** Public surface of the reporting service for end-to-end tests (apps never import apps: lint enforces it). */
export { ReportingModule } from './app.module';
export { loadReportingConfig } from './config';
