/** `npm run openapi`: writes apps/reporting/openapi.json from the controllers. */
import { runOpenApiGenerator } from '@tributary/runtime';
import { generateOpenApiDocument, OPENAPI_FILE } from './committed-openapi';

runOpenApiGenerator(OPENAPI_FILE, generateOpenApiDocument);
