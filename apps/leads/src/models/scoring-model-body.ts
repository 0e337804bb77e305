import type { INestApplication } from '@nestjs/common';
import { captureDocumentBodies } from '@tributary/runtime';

export const SCORING_MODEL_PATH = '/v1/scoring-model';

/** Scoring models arrive as YAML or JSON text (see captureDocumentBodies). */
export function captureScoringModelBody(app: INestApplication): void {
  captureDocumentBodies(app, (method, path) => method === 'PUT' && path === SCORING_MODEL_PATH);
}
