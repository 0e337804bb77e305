import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

/**
 * Builds a service's API description without the stack: Nest's preview mode scans modules and controllers but
 * instantiates no providers, so no broker, registry or store is contacted.
 */
export async function previewOpenApiDocument(
  module: DynamicModule,
  describe: (app: INestApplication) => OpenAPIObject,
): Promise<OpenAPIObject> {
  const app = await NestFactory.create(module, { preview: true, logger: false, abortOnError: false });
  try {
    return describe(app);
  } finally {
    await app.close();
  }
}

/**
 * Writes a description as it is committed: Prettier-formatted JSON, so `prettier --check` agrees with the generator.
 * Prettier is loaded here only (generators call this; services never do).
 */
export async function writeOpenApiFile(file: string, document: OpenAPIObject): Promise<void> {
  const { format, resolveConfig } = await import('prettier');
  const options = (await resolveConfig(file)) ?? {};
  writeFileSync(file, await format(JSON.stringify(document), { ...options, parser: 'json' }));
}

export function readOpenApiFile(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** `npm run openapi` for one service: writes its description to `file` and says how many paths it has. */
export function runOpenApiGenerator(file: string, generate: () => Promise<OpenAPIObject>): void {
  generate()
    .then(async (document) => {
      await writeOpenApiFile(file, document);
      console.log(`wrote ${file} (${Object.keys(document.paths).length} paths)`);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

/** Serves Swagger UI at /docs and the description at /docs/openapi.json, built once, on the first request. */
export function serveApiDocs(
  app: INestApplication,
  describe: (app: INestApplication) => OpenAPIObject,
): void {
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup('docs', app, () => (document ??= describe(app)), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
}
