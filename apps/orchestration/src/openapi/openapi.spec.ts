import { generateOpenApiDocument, readCommittedOpenApi } from './committed-openapi';

describe('apps/orchestration/openapi.json', () => {
  it('matches what the controllers describe (run `npm run openapi` after changing an endpoint)', async () => {
    const generated = await generateOpenApiDocument();
    expect(readCommittedOpenApi()).toEqual(JSON.parse(JSON.stringify(generated)));
  });

  it('names each route’s scopes, and only the unsubscribe link and the probes are public', async () => {
    const document = await generateOpenApiDocument();
    const scopesOf = (operation: object | undefined) =>
      (operation as Record<string, unknown> | undefined)?.['x-required-scopes'];
    expect(scopesOf(document.paths['/v1/journeys/{journeyId}/publish']?.post)).toEqual(['journeys:admin']);
    expect(scopesOf(document.paths['/v1/content/{contentId}/approve']?.post)).toEqual(['content:approve']);
    const publicRoutes = Object.entries(document.paths).flatMap(([path, item]) =>
      (['get', 'put', 'post', 'delete', 'patch'] as const)
        .filter((method) => item[method] !== undefined && item[method]?.security?.length === 0)
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(publicRoutes.sort()).toEqual([
      'GET /health/live',
      'GET /health/ready',
      'GET /v1/unsubscribe/{token}',
      'POST /v1/unsubscribe/{token}',
    ]);
  });
});
