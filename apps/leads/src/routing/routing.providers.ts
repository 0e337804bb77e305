import type { Provider } from '@nestjs/common';
import { SERVICE_CONFIG } from '@tributary/config';
import { LeadRouter, ROUTING_OPTIONS, type RoutingOptions } from './lead-router.service';
import { LEAD_ROUTING } from './lead-routing.port';
import { RoutingRulesController } from './routing-rules.controller';
import {
  ROUTING_RULES_STORE_OPTIONS,
  RoutingRulesStore,
  type RoutingRulesStoreOptions,
} from './routing-rules.store';
import { routingConfigShape, type RoutingConfig } from './routing.config';

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

/** Routing's providers for LeadsModule (they need EventServiceModule's store connection, publisher and logger). */
export const routingProviders: Provider[] = [
  RoutingRulesStore,
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

/** Routing's HTTP controllers for LeadsModule. */
export const routingControllers = [RoutingRulesController];
