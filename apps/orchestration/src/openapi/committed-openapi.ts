import { join } from 'node:path';
import type { OpenAPIObject } from '@nestjs/swagger';
import { previewOpenApiDocument, readOpenApiFile } from '@tributary/runtime';
import { OrchestrationModule } from '../app.module';
import { loadOrchestrationConfig } from '../config';
import { orchestrationOpenApiDocument } from './api-docs';

/** Where the API description is committed (`npm run openapi` writes it; a test fails when it drifts). */
export const OPENAPI_FILE = join(__dirname, '..', '..', 'openapi.json');

/** The description as the controllers give it, built without the stack. */
export function generateOpenApiDocument(): Promise<OpenAPIObject> {
  return previewOpenApiDocument(
    OrchestrationModule.forRoot(loadOrchestrationConfig({})),
    orchestrationOpenApiDocument,
  );
}

export function readCommittedOpenApi(): unknown {
  return readOpenApiFile(OPENAPI_FILE);
}
