import type { OpenAPIObject, OperationObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { MAX_PAGE_SIZE, reportQuery } from '../api/report-query';
import { generateOpenApiDocument, readCommittedOpenApi } from './committed-openapi';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

interface Route {
  name: string;
  path: string;
  operation: OperationObject & { 'x-required-scopes'?: string[] };
}

function routesOf(document: OpenAPIObject): Route[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    METHODS.flatMap((method) => {
      const operation = item[method];
      return operation ? [{ name: `${method.toUpperCase()} ${path}`, path, operation }] : [];
    }),
  );
}

const paramsOf = (route: Route | undefined) =>
  (route?.operation.parameters ?? []).map(
    (parameter) => parameter as { name: string; in: string; schema?: object },
  );

/** The report routes that take no parameters and no body (so never answer 400). */
const WITHOUT_INPUT = ['GET /v1/reports/event-counts', 'GET /v1/reports/settings'];
/** The routes that stream every row as CSV on `?format=csv` or `Accept: text/csv` (they call wantsCsv). */
const CSV_ROUTES = [
  'GET /v1/reports/data-quality',
  'GET /v1/reports/funnel/contacts',
  'GET /v1/reports/journeys',
  'GET /v1/reports/routing',
];

describe('apps/reporting/openapi.json', () => {
  let document: OpenAPIObject;
  let routes: Route[];
  let reportRoutes: Route[];
  const route = (name: string) => routes.find((candidate) => candidate.name === name);

  beforeAll(async () => {
    document = await generateOpenApiDocument();
    routes = routesOf(document);
    reportRoutes = routes.filter((candidate) => candidate.path.startsWith('/v1/reports/'));
  });

  it('matches what the controllers describe (run `npm run openapi` after changing an endpoint)', () => {
    expect(readCommittedOpenApi()).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it('describes every reporting route', () => {
    expect(reportRoutes.map((candidate) => candidate.name).sort()).toEqual([
      'GET /v1/reports/attribution',
      'GET /v1/reports/data-quality',
      'GET /v1/reports/event-counts',
      'GET /v1/reports/funnel',
      'GET /v1/reports/funnel/contacts',
      'GET /v1/reports/health',
      'GET /v1/reports/journeys',
      'GET /v1/reports/journeys/trend',
      'GET /v1/reports/leads-captured',
      'GET /v1/reports/routing',
      'GET /v1/reports/settings',
      'PUT /v1/reports/settings',
    ]);
  });

  it('names each route’s scopes, and only the probes are public', () => {
    const scopes = Object.fromEntries(
      reportRoutes.map((candidate) => [candidate.name, candidate.operation['x-required-scopes']]),
    );
    expect(scopes['PUT /v1/reports/settings']).toEqual(['reports:admin']);
    expect(scopes['GET /v1/reports/settings']).toEqual(['reports:read', 'reports:admin']);
    for (const [name, required] of Object.entries(scopes))
      if (!name.endsWith('/settings')) expect([name, required]).toEqual([name, ['reports:read']]);
    for (const candidate of reportRoutes)
      expect([candidate.name, candidate.operation.security]).toEqual([
        candidate.name,
        [{ writeKey: [] }, { bearer: [] }],
      ]);
    const publicRoutes = routes.filter((candidate) => candidate.operation.security?.length === 0);
    expect(publicRoutes.map((candidate) => candidate.name).sort()).toEqual([
      'GET /health/live',
      'GET /health/ready',
    ]);
  });

  it('documents each report route’s parameters or body, its JSON answer, 400, 401 and 403', () => {
    for (const candidate of reportRoutes) {
      const { responses, requestBody } = candidate.operation;
      const described = Object.keys(responses).sort();
      const json = (responses['200'] as { content?: Record<string, { schema?: object }> } | undefined)
        ?.content?.['application/json'];
      expect([candidate.name, json?.schema]).toEqual([candidate.name, expect.any(Object)]);
      expect([candidate.name, described]).toEqual([candidate.name, expect.arrayContaining(['401', '403'])]);
      if (WITHOUT_INPUT.includes(candidate.name)) continue;
      const takes = paramsOf(candidate).length + (requestBody === undefined ? 0 : 1);
      expect([candidate.name, takes > 0]).toEqual([candidate.name, true]);
      expect([candidate.name, described]).toEqual([candidate.name, expect.arrayContaining(['400'])]);
      expect([candidate.name, Object.keys(schemaOf(document, candidate, '400') ?? {})]).toEqual([
        candidate.name,
        expect.arrayContaining(['error', 'errors', 'problems']),
      ]);
    }
  });

  it('offers text/csv, and `format`, exactly where a route streams CSV', () => {
    const csvRoutes = reportRoutes.filter(
      (candidate) =>
        (candidate.operation.responses['200'] as { content?: object } | undefined)?.content !== undefined &&
        'text/csv' in ((candidate.operation.responses['200'] as { content: object }).content ?? {}),
    );
    expect(csvRoutes.map((candidate) => candidate.name).sort()).toEqual(CSV_ROUTES);
    for (const name of CSV_ROUTES)
      expect(paramsOf(route(name)).find((parameter) => parameter.name === 'format')?.schema).toEqual({
        type: 'string',
        enum: ['json', 'csv'],
      });
  });

  it('takes the shared report parameters from the report query: names, grain’s enum and default, page bounds', () => {
    const defaults = reportQuery.parse({});
    const shared = paramsOf(route('GET /v1/reports/data-quality')).filter((parameter) =>
      Object.keys(reportQuery.shape).includes(parameter.name),
    );
    expect(shared.map((parameter) => parameter.name)).toEqual(Object.keys(reportQuery.shape));
    expect(shared.every((parameter) => parameter.in === 'query')).toBe(true);
    expect(shared.find((parameter) => parameter.name === 'grain')?.schema).toEqual({
      type: 'string',
      enum: ['hour', 'day', 'week'],
      default: defaults.grain,
    });
    expect(shared.find((parameter) => parameter.name === 'limit')?.schema).toEqual({
      type: 'integer',
      minimum: 1,
      maximum: MAX_PAGE_SIZE,
      default: defaults.limit,
    });
    // Paged routes take limit and cursor; the rest do not offer them.
    const paged = reportRoutes.filter((candidate) =>
      paramsOf(candidate).some((parameter) => parameter.name === 'cursor'),
    );
    expect(paged.map((candidate) => candidate.name).sort()).toEqual(CSV_ROUTES);
    for (const candidate of paged)
      expect([candidate.name, Object.keys(schemaOf(document, candidate) ?? {})]).toEqual([
        candidate.name,
        expect.arrayContaining(['items', 'nextCursor', 'total']),
      ]);
  });

  it('refers only to schemas it defines', () => {
    const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (match) => match[1] ?? '',
    );
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs))
      expect([ref, document.components?.schemas?.[ref]]).toEqual([ref, expect.any(Object)]);
  });
});

/** The properties of a route's JSON answer (200 unless `status` says otherwise). */
function schemaOf(
  document: OpenAPIObject,
  route: Route,
  status = '200',
): Record<string, unknown> | undefined {
  const content = (
    route.operation.responses[status] as { content?: Record<string, { schema?: { $ref?: string } }> }
  ).content;
  const name = content?.['application/json']?.schema?.$ref?.split('/').pop();
  const schema = name
    ? (document.components?.schemas?.[name] as { properties?: Record<string, unknown> })
    : undefined;
  return schema?.properties;
}
