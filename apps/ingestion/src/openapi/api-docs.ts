import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

export const DOCS_PATH = 'docs';
export const OPENAPI_JSON_PATH = 'docs/openapi.json';

/** The ingestion API description, built from the controllers' decorators (deterministic: no host, no dates). */
export function ingestionOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Tributary ingestion API')
    .setDescription(
      'The HTTP edge of Tributary: Segment-compatible tracking, signed CRM and shop webhooks, lead capture forms. ' +
        'Errors are JSON: `{error, reason}` or `{error, problems: [{field, reason}]}`.',
    )
    .setVersion('1')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Write key as the user name.' }, 'writeKey')
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'Write key or OAuth2 access token.' },
      'bearer',
    )
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Serves Swagger UI at /docs and the description at /docs/openapi.json. */
export function serveApiDocs(app: INestApplication): void {
  SwaggerModule.setup(DOCS_PATH, app, () => ingestionOpenApiDocument(app), {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    yamlDocumentUrl: 'docs/openapi.yaml',
  });
}
