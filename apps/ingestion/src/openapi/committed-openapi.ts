import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';
import { IngestionModule } from '../app.module';
import { loadIngestionConfig } from '../config';
import { ingestionOpenApiDocument } from './api-docs';

/** Where the API description is committed (`npm run openapi` writes it; a test fails when it drifts). */
export const OPENAPI_FILE = join(__dirname, '..', '..', 'openapi.json');

/**
 * Builds the description without the stack: Nest's preview mode scans modules and controllers but instantiates no
 * providers, so no broker, registry or store is contacted.
 */
export async function generateOpenApiDocument(): Promise<OpenAPIObject> {
  const app = await NestFactory.create(IngestionModule.forRoot(loadIngestionConfig({})), {
    preview: true,
    logger: false,
    abortOnError: false,
  });
  try {
    return ingestionOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

export function readCommittedOpenApi(): unknown {
  return JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
}
