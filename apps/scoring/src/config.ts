import { z } from 'zod';
import { loadServiceConfig, type ServiceConfig } from '@tributary/platform';

const scoringShape = {
  /** Match `ada+news@example.com` to `ada@example.com` in identity resolution (off: some mailboxes treat `+` literally). */
  IDENTITY_STRIP_PLUS_ADDRESSING: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
};

export type ScoringConfig = ServiceConfig<typeof scoringShape>;

/** Scoring's validated configuration (HTTP on 3001 by default). */
export function loadScoringConfig(env: Record<string, string | undefined> = process.env): ScoringConfig {
  return loadServiceConfig('scoring', env, scoringShape, { HTTP_PORT: '3001' });
}
