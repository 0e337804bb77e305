import type { INestApplication, Type } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { declaredScopes } from '@tributary/access';

export const DOCS_PATH = 'docs';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

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
  const document = SwaggerModule.createDocument(app, config);
  const controllers = [...app.get(ModulesContainer).values()].flatMap((module) =>
    [...module.controllers.values()].map((wrapper) => wrapper.metatype as Type<unknown>),
  );
  const byName = new Map(controllers.map((controller) => [controller.name, controller]));
  for (const [path, item] of Object.entries(document.paths))
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation?.operationId) continue;
      // Nest's operation ids are `<Controller>_<method>`.
      const [controllerName, handlerName] = operation.operationId.split('_');
      const handler = (byName.get(controllerName ?? '')?.prototype as Record<string, unknown> | undefined)?.[
        handlerName ?? ''
      ];
      if (typeof handler !== 'function') continue;
      const scopes = declaredScopes(handler);
      if (scopes.all.length === 0 && scopes.any.length === 0) {
        operation.security = [];
        operation.description = path.startsWith('/health/')
          ? 'Public: a probe for the orchestrator.'
          : 'Public: no key (the link itself is the credential).';
        continue;
      }
      operation.security = [{ writeKey: [] }, { bearer: [] }];
      (operation as unknown as Record<string, unknown>)['x-required-scopes'] =
        scopes.all.length > 0 ? scopes.all : scopes.any;
      operation.description =
        scopes.all.length > 0
          ? `Scopes: ${scopes.all.join(', ')}.`
          : `Scopes: one of ${scopes.any.join(', ')}.`;
    }
  return document;
}

/** Serves Swagger UI at /docs and the description at /docs/openapi.json. */
export function serveApiDocs(app: INestApplication): void {
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup(DOCS_PATH, app, () => (document ??= orchestrationOpenApiDocument(app)), {
    jsonDocumentUrl: `${DOCS_PATH}/openapi.json`,
  });
}
