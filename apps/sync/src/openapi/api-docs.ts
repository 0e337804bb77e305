import type { INestApplication } from '@nestjs/common';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { annotateRouteScopes, keyedApiConfig } from '@tributary/access';

/** The sync API description (vendor connections), built from the controllers' routes (deterministic). */
export function syncOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = keyedApiConfig(
    'Tributary sync API',
    'Connections to vendor accounts (HubSpot): created with credentials that are sealed at rest and never ' +
      'returned, tested with a real call, paused, resumed and deleted. Every call is scoped to the workspace of ' +
      'its key or token. Errors are JSON: `{error, errors: [{field, reason}]}`.',
  );
  return annotateRouteScopes(
    app,
    SwaggerModule.createDocument(app, config),
    () => 'Public: a probe for the orchestrator.',
  );
}
