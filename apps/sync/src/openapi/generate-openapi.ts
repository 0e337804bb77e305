/** `npm run openapi`: writes apps/sync/openapi.json from the controllers. */
import { writeOpenApiFile } from '@tributary/runtime';
import { generateOpenApiDocument, OPENAPI_FILE } from './committed-openapi';

async function main(): Promise<void> {
  const document = await generateOpenApiDocument();
  await writeOpenApiFile(OPENAPI_FILE, document);
  console.log(`wrote ${OPENAPI_FILE} (${Object.keys(document.paths).length} paths)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
