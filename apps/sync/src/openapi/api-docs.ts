import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { annotateRouteScopes } from '@tributary/access';

export const DOCS_PATH = 'docs';

/** The sync API description (vendor connections), built from the controllers' routes (deterministic). */
export function syncOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Tributary sync API')
    .setDescription(
      'Connections to vendor accounts (HubSpot): created with credentials that are sealed at rest and never ' +
        'returned, tested with a real call, paused, resumed and deleted. Every call is scoped to the workspace of ' +
        'its key or token. Errors are JSON: `{error, errors: [{field, reason}]}`.',
    )
    .setVersion('1')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Write key as the user name.' }, 'writeKey')
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'Write key or OAuth2 access token.' },
      'bearer',
    )
    .build();
  return annotateRouteScopes(
    app,
    SwaggerModule.createDocument(app, config),
    () => 'Public: a probe for the orchestrator.',
  );
}

/** Serves Swagger UI at /docs and the description at /docs/openapi.json. */
export function serveApiDocs(app: INestApplication): void {
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup(DOCS_PATH, app, () => (document ??= syncOpenApiDocument(app)), {
    jsonDocumentUrl: `${DOCS_PATH}/openapi.json`,
  });
}
