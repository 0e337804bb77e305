import type { Provider } from '@nestjs/common';
import { CaptureBatch } from './capture-batch.service';
import { EngagementBatch } from './engagement-batch.service';
import { LeadClock } from './lead-clock';
import { LeadScoring } from './lead-scoring.service';
import { OneEventPath } from './one-event-path.service';
import { StageMoves } from './stage-moves.service';

/**
 * The lead pipeline's use cases (capture → identity → enrichment → score → lifecycle → routing), for
 * LeadPipelineModule. They need the contact repository, identity, enrichment, scoring models, routing
 * (`LEAD_ROUTING`), the publisher and `MAX_FUTURE_SKEW_MS`.
 */
export const leadPipelineUseCases = [
  LeadClock,
  StageMoves,
  LeadScoring,
  OneEventPath,
  EngagementBatch,
  CaptureBatch,
] satisfies Provider[];
