import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage } from 'node:http';
import { isJsonContentType, isYamlContentType } from './scoring-model';

export const SCORING_MODEL_PATH = '/v1/scoring-model';
const MAX_MODEL_BODY = '256kb';

function isScoringModelWrite(req: IncomingMessage): boolean {
  const path = (req.url ?? '').split('?', 1)[0]?.replace(/\/+$/, '');
  const type = req.headers['content-type'];
  return (
    req.method === 'PUT' &&
    path === SCORING_MODEL_PATH &&
    (isYamlContentType(type) || isJsonContentType(type))
  );
}

/**
 * Scoring models arrive as YAML (application/yaml, text/yaml) or JSON; the route takes them as text so both go
 * through one parser and a syntax error answers `invalid_scoring_model` with its line, not Nest's generic 400.
 * Call from the service's `configureApp`, before Nest registers its JSON parser (which then skips these requests).
 */
export function captureScoringModelBody(app: INestApplication): void {
  (app as NestExpressApplication).useBodyParser('text', { type: isScoringModelWrite, limit: MAX_MODEL_BODY });
}
