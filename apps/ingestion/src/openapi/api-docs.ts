import type { INestApplication } from '@nestjs/common';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { constantTimeEquals, keyedApiConfig, presentedKey } from '@tributary/access';

export const DOCS_PATH = 'docs';
export const OPENAPI_JSON_PATH = 'docs/openapi.json';
/** The whole description, admin routes included: only for the platform operator. */
export const ADMIN_OPENAPI_JSON_PATH = '/docs/admin/openapi.json';

/** The ingestion API description, built from the controllers' decorators (deterministic: no host, no dates). */
export function ingestionOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = keyedApiConfig(
    'Tributary ingestion API',
    'The HTTP edge of Tributary: Segment-compatible tracking, signed CRM and shop webhooks, lead capture forms. ' +
      'Errors are JSON: `{error, problems: [{field, reason}]}`.',
  );
  return SwaggerModule.createDocument(app, config);
}

/** The description without the operator's routes (tag `admin`): what anyone may read at /docs. */
export function publicApiDocument(document: OpenAPIObject): OpenAPIObject {
  const paths = Object.fromEntries(
    Object.entries(document.paths).filter(([, item]) =>
      Object.values(item).every(
        (operation: unknown) => !(operation as { tags?: string[] } | undefined)?.tags?.includes('admin'),
      ),
    ),
  );
  return { ...document, paths };
}

/**
 * Serves Swagger UI at /docs with the public description (/docs/openapi.json), and the whole one, admin routes
 * included, at /docs/admin/openapi.json to the operator's token only: a route list is a map for an attacker.
 */
export function serveApiDocs(app: INestApplication, adminToken: string): void {
  let whole: OpenAPIObject | undefined;
  const document = () => (whole ??= ingestionOpenApiDocument(app));
  app.use(ADMIN_OPENAPI_JSON_PATH, (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET') return next();
    const presented = presentedKey(req);
    if (!presented || !constantTimeEquals(presented, adminToken)) {
      res.status(401).json({
        error: 'unauthorized',
        problems: [{ field: 'authorization', reason: 'the admin API description is for the operator token' }],
      });
      return;
    }
    res.json(document());
  });
  SwaggerModule.setup(DOCS_PATH, app, () => publicApiDocument(document()), {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    yamlDocumentUrl: 'docs/openapi.yaml',
  });
}
