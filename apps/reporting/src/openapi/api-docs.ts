import type { INestApplication } from '@nestjs/common';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { annotateRouteScopes, keyedApiConfig } from '@tributary/access';

/**
 * The reporting API description (funnel, routing, attribution, journeys, integration health, data quality, settings),
 * built from the controllers' routes and decorators (deterministic: no host, no dates). Each operation names the
 * scopes its route declares (`x-required-scopes`, and in its description); only the health probes are public.
 */
export function reportingOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = keyedApiConfig(
    'Tributary reporting API',
    'Reports read from the platform’s topics: the lead funnel (merged contacts once) and its people, routing per ' +
      'owner, leads captured, multi-touch attribution (five models side by side), journey and campaign performance, ' +
      'integration health and data quality. Every call answers with the data of its key’s or token’s workspace ' +
      'only, whatever it asks for. Ranges (`from`, `to`) are by event time in the workspace’s time zone (its report ' +
      'settings; UTC by default), and hour, day and week buckets are its local ones. Tables come in pages: `limit` ' +
      'rows (at most 1000), and the answer’s `nextCursor` passed as `cursor` for the next page; `?format=csv` or ' +
      '`Accept: text/csv` streams every row as CSV instead. Errors are JSON: `{error, problems: [{field, reason}]}`; ' +
      'a 400 lists every invalid parameter or field at once, also as `errors: [{field, reason}]`.',
  );
  const document = annotateRouteScopes(
    app,
    SwaggerModule.createDocument(app, config),
    () => 'Public: a probe for the orchestrator.',
  );
  return withoutDashboard(document);
}

/**
 * The dashboard's page and assets (`/dashboard…`: public, holding no data; the page calls this API with the key its
 * user enters) are a browser's, not the API's: left out of the description.
 */
function withoutDashboard(document: OpenAPIObject): OpenAPIObject {
  const paths = Object.fromEntries(
    Object.entries(document.paths).filter(
      ([path]) => path !== '/dashboard' && !path.startsWith('/dashboard/'),
    ),
  );
  return { ...document, paths };
}
