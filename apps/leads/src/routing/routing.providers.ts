import type { Provider } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import { SERVICE_CONFIG } from '@tributary/config';
import { AnnouncementOutbox } from './announcement-outbox';
import { AssignmentStore } from './assignment.store';
import { BatchRouter } from './batch-router';
import { CapacityLedger } from './capacity-ledger';
import { LeadAssigner } from './lead-assigner';
import { LeadRouter } from './lead-router.service';
import { LEAD_ROUTING } from './lead-routing.port';
import { RoutingRulesController } from './routing-rules.controller';
import {
  ROUTING_RULES_STORE_OPTIONS,
  RoutingRulesStore,
  type RoutingRulesStoreOptions,
} from './routing-rules.store';
import { routingConfigShape, type RoutingConfig } from './routing.config';
import {
  ASSIGNMENT_MODEL,
  OWNER_LOAD_MODEL,
  ROUTING_ANNOUNCEMENT_MODEL,
  ROUTING_CLAIM_MODEL,
  ROUTING_CURSOR_MODEL,
  ROUTING_DUE_MODEL,
  ROUTING_HOLD_MODEL,
  ROUTING_RULES_MODEL,
  assignmentModel,
  ownerLoadModel,
  routingAnnouncementModel,
  routingClaimModel,
  routingCursorModel,
  routingDueModel,
  routingHoldModel,
  routingRulesModel,
} from './routing.model';
import { ROUTING_OPTIONS, type RoutingOptions } from './routing.types';
import { SlaSweeper } from './sla-sweeper';

/**
 * Routing options from the service config, falling back to the shape's default when it does not carry the key.
 * LEADS_BACKGROUND_JOBS=false (the rescore CLI) turns the SLA sweep off like the other interval jobs.
 */
export function routingOptionsOf(
  config: Partial<RoutingConfig> & { LEADS_BACKGROUND_JOBS?: boolean },
): RoutingOptions {
  return {
    sweepIntervalMs:
      config.ROUTING_SWEEP_INTERVAL_MS ?? routingConfigShape.ROUTING_SWEEP_INTERVAL_MS.parse(undefined),
    reconcileIntervalMs:
      config.ROUTING_RECONCILE_INTERVAL_MS ??
      routingConfigShape.ROUTING_RECONCILE_INTERVAL_MS.parse(undefined),
    sweep: config.LEADS_BACKGROUND_JOBS !== false,
  };
}

/** Routing's mongoose models, each built once per connection by its factory in routing.model.ts. */
export const routingModelProviders: Provider[] = [
  {
    provide: ASSIGNMENT_MODEL,
    inject: [STORE_CONNECTION],
    useFactory: (c: Connection) => assignmentModel(c),
  },
  {
    provide: ROUTING_CLAIM_MODEL,
    inject: [STORE_CONNECTION],
    useFactory: (c: Connection) => routingClaimModel(c),
  },
  {
    provide: ROUTING_CURSOR_MODEL,
    inject: [STORE_CONNECTION],
    useFactory: (c: Connection) => routingCursorModel(c),
  },
  { provide: OWNER_LOAD_MODEL, inject: [STORE_CONNECTION], useFactory: (c: Connection) => ownerLoadModel(c) },
  {
    provide: ROUTING_HOLD_MODEL,
    inject: [STORE_CONNECTION],
    useFactory: (c: Connection) => routingHoldModel(c),
  },
  {
    provide: ROUTING_ANNOUNCEMENT_MODEL,
    inject: [STORE_CONNECTION],
    useFactory: (c: Connection) => routingAnnouncementModel(c),
  },
  {
    provide: ROUTING_DUE_MODEL,
    inject: [STORE_CONNECTION],
    useFactory: (c: Connection) => routingDueModel(c),
  },
  {
    provide: ROUTING_RULES_MODEL,
    inject: [STORE_CONNECTION],
    useFactory: (c: Connection) => routingRulesModel(c),
  },
];

/**
 * Routing's providers. They need EventServiceModule's globals: the store connection, the publisher, the logger and
 * the service config (for ROUTING_OPTIONS and the rules cache).
 */
export const routingProviders: Provider[] = [
  ...routingModelProviders,
  RoutingRulesStore,
  AssignmentStore,
  CapacityLedger,
  AnnouncementOutbox,
  LeadAssigner,
  BatchRouter,
  SlaSweeper,
  LeadRouter,
  { provide: LEAD_ROUTING, useExisting: LeadRouter },
  { provide: ROUTING_OPTIONS, inject: [SERVICE_CONFIG], useFactory: routingOptionsOf },
  {
    provide: ROUTING_RULES_STORE_OPTIONS,
    inject: [SERVICE_CONFIG],
    useFactory: (config: Partial<RoutingConfig>): RoutingRulesStoreOptions => ({
      cacheTtlMs:
        config.ROUTING_RULES_CACHE_TTL_MS ?? routingConfigShape.ROUTING_RULES_CACHE_TTL_MS.parse(undefined),
    }),
  },
];

/** Routing's HTTP controllers. */
export const routingControllers = [RoutingRulesController];
