/** `npm run openapi`: writes apps/ingestion/openapi.json from the controllers' decorators. */
import { runOpenApiGenerator } from '@tributary/runtime';
import { generateOpenApiDocument, OPENAPI_FILE } from './committed-openapi';

runOpenApiGenerator(OPENAPI_FILE, generateOpenApiDocument);
