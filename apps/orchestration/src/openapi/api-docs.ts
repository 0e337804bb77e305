import type { INestApplication } from '@nestjs/common';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { annotateRouteScopes, keyedApiConfig } from '@tributary/access';

/**
 * The orchestration API description (journeys, messaging settings, suppressions, content), built from the
 * controllers' routes (deterministic: no host, no dates). Each operation names the scopes its route declares
 * (`x-required-scopes`, and in its description); a route that declares none is public (the unsubscribe link, the
 * health probes).
 */
export function orchestrationOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = keyedApiConfig(
    'Tributary orchestration API',
    'Journeys (versioned, published, paused; dry runs and previews), messaging settings and suppressions, the ' +
      'content publishing workflow. Every call is scoped to the workspace of its key or token. Errors are JSON: ' +
      '`{error, problems: [{field, reason}]}`.',
  );
  return annotateRouteScopes(app, SwaggerModule.createDocument(app, config), (path) =>
    path.startsWith('/health/')
      ? 'Public: a probe for the orchestrator.'
      : 'Public: no key (the link itself is the credential).',
  );
}
