import { generateOpenApiDocument, readCommittedOpenApi } from './committed-openapi';

describe('apps/sync/openapi.json', () => {
  it('matches what the controllers describe (run `npm run openapi` after changing an endpoint)', async () => {
    const generated = await generateOpenApiDocument();
    expect(readCommittedOpenApi()).toEqual(JSON.parse(JSON.stringify(generated)));
  });

  it('names each route’s scopes, and only the probes are public', async () => {
    const document = await generateOpenApiDocument();
    const scopesOf = (operation: object | undefined) =>
      (operation as Record<string, unknown> | undefined)?.['x-required-scopes'];
    expect(scopesOf(document.paths['/v1/connections']?.post)).toEqual(['connections:admin']);
    expect(scopesOf(document.paths['/v1/connections/{connectionId}']?.get)).toEqual([
      'connections:read',
      'connections:admin',
    ]);
    const publicRoutes = Object.entries(document.paths).flatMap(([path, item]) =>
      (['get', 'put', 'post', 'delete', 'patch'] as const)
        .filter((method) => item[method] !== undefined && item[method]?.security?.length === 0)
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(publicRoutes.sort()).toEqual(['GET /health/live', 'GET /health/ready']);
  });
});
