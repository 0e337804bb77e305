import type { Provider } from '@nestjs/common';
import { SERVICE_CONFIG } from '@tributary/platform';
import { LeadRouter, ROUTING_OPTIONS, type RoutingOptions } from './lead-router.service';
import { RoutingRulesController } from './routing-rules.controller';
import { RoutingRulesStore } from './routing-rules.store';
import { routingConfigShape, type RoutingConfig } from './routing.config';

/** Routing's providers for ScoringModule (they need EventServiceModule's store connection, publisher and logger). */
export const routingProviders: Provider[] = [
  RoutingRulesStore,
  LeadRouter,
  {
    provide: ROUTING_OPTIONS,
    inject: [SERVICE_CONFIG],
    // Falls back to the shape's default when the service config does not carry the key.
    useFactory: (config: Partial<RoutingConfig>): RoutingOptions => ({
      sweepIntervalMs:
        config.ROUTING_SWEEP_INTERVAL_MS ?? routingConfigShape.ROUTING_SWEEP_INTERVAL_MS.parse(undefined),
    }),
  },
];

/** Routing's HTTP controllers for ScoringModule. */
export const routingControllers = [RoutingRulesController];
