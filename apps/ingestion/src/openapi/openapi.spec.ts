import { generateOpenApiDocument, readCommittedOpenApi } from './committed-openapi';

describe('apps/ingestion/openapi.json', () => {
  it('matches what the controllers describe (run `npm run openapi` after changing an endpoint)', async () => {
    const generated = await generateOpenApiDocument();
    expect(readCommittedOpenApi()).toEqual(JSON.parse(JSON.stringify(generated)));
  });

  it('documents the webhook and lead endpoints with their error responses', async () => {
    const document = await generateOpenApiDocument();
    const webhook = document.paths['/v1/webhooks/{source}/{workspaceId}']?.post;
    const leads = document.paths['/v1/leads']?.post;
    expect(Object.keys(webhook?.responses ?? {}).sort()).toEqual([
      '200',
      '202',
      '400',
      '401',
      '404',
      '422',
      '429',
    ]);
    expect(Object.keys(leads?.responses ?? {}).sort()).toEqual(['200', '400', '401', '403', '429']);
  });
});
