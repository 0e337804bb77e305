/** `npm run openapi`: writes apps/ingestion/openapi.json from the controllers' decorators. */
import { writeFileSync } from 'node:fs';
import type { OpenAPIObject } from '@nestjs/swagger';
import { format, resolveConfig } from 'prettier';
import { generateOpenApiDocument, OPENAPI_FILE } from './committed-openapi';

/** The document as committed: Prettier-formatted JSON, so `prettier --check` agrees with the generator. */
async function renderOpenApiFile(document: OpenAPIObject): Promise<string> {
  const options = (await resolveConfig(OPENAPI_FILE)) ?? {};
  return format(JSON.stringify(document), { ...options, parser: 'json' });
}

async function main(): Promise<void> {
  const document = await generateOpenApiDocument();
  writeFileSync(OPENAPI_FILE, await renderOpenApiFile(document));
  console.log(`wrote ${OPENAPI_FILE} (${Object.keys(document.paths).length} paths)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
