import { join } from 'node:path';
import type { OpenAPIObject } from '@nestjs/swagger';
import { previewOpenApiDocument, readOpenApiFile } from '@tributary/runtime';
import { ReportingModule } from '../app.module';
import { loadReportingConfig } from '../config';
import { reportingOpenApiDocument } from './api-docs';

/** Where the API description is committed (`npm run openapi` writes it; a test fails when it drifts). */
export const OPENAPI_FILE = join(__dirname, '..', '..', 'openapi.json');

/** The description as the controllers give it, built without the stack. */
export function generateOpenApiDocument(): Promise<OpenAPIObject> {
  return previewOpenApiDocument(ReportingModule.forRoot(loadReportingConfig({})), reportingOpenApiDocument);
}

export function readCommittedOpenApi(): unknown {
  return readOpenApiFile(OPENAPI_FILE);
}
