import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { annotateRouteScopes } from '@tributary/access';

export const DOCS_PATH = 'docs';

/**
 * The orchestration API description (journeys, messaging settings, suppressions, content), built from the
 * controllers' routes (deterministic: no host, no dates). Each operation names the scopes its route declares
 * (`x-required-scopes`, and in its description); a route that declares none is public (the unsubscribe link, the
 * health probes).
 */
export function orchestrationOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Tributary orchestration API')
    .setDescription(
      'Journeys (versioned, published, paused; dry runs and previews), messaging settings and suppressions, the ' +
        'content publishing workflow. Every call is scoped to the workspace of its key or token. Errors are JSON: ' +
        '`{error, problems: [{field, reason}]}`.',
    )
    .setVersion('1')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Write key as the user name.' }, 'writeKey')
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'Write key or OAuth2 access token.' },
      'bearer',
    )
    .build();
  return annotateRouteScopes(app, SwaggerModule.createDocument(app, config), (path) =>
    path.startsWith('/health/')
      ? 'Public: a probe for the orchestrator.'
      : 'Public: no key (the link itself is the credential).',
  );
}

/** Serves Swagger UI at /docs and the description at /docs/openapi.json. */
export function serveApiDocs(app: INestApplication): void {
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup(DOCS_PATH, app, () => (document ??= orchestrationOpenApiDocument(app)), {
    jsonDocumentUrl: `${DOCS_PATH}/openapi.json`,
  });
}
