import { Module, type DynamicModule } from '@nestjs/common';
import { SERVICE_CONFIG } from '@tributary/config';
import { LEAD_ROUTING } from './lead-routing.port';
import type { RoutingConfig } from './routing.config';
import { routingControllers, routingOptionsOf, routingProviders } from './routing.providers';
import { ROUTING_OPTIONS, type RoutingOptions } from './routing.types';

/** What the rest of the lead service may use of routing: the port (the pipeline, contacts, merges' handlers). */
const routingExports = [LEAD_ROUTING];

/** Routing without its HTTP API (see `RoutingModule.headless`). */
@Module({})
class HeadlessRoutingModule {}

/**
 * Lead routing: rules, assignments, the SLA sweep and the routing rules API. Imports nothing: it relies on
 * EventServiceModule's globals (STORE_CONNECTION, EventPublisher, SERVICE_LOGGER, SERVICE_CONFIG).
 */
@Module({ controllers: routingControllers, providers: routingProviders, exports: routingExports })
export class RoutingModule {
  /**
   * Routing for an application context without HTTP (the rescore CLI): no controllers, whose guard needs the
   * credential table, and options overriding the config's, e.g. `{ sweep: false }`.
   */
  static headless(overrides: Partial<RoutingOptions> = {}): DynamicModule {
    return {
      module: HeadlessRoutingModule,
      providers: [
        ...routingProviders,
        // After the list, so it wins.
        {
          provide: ROUTING_OPTIONS,
          inject: [SERVICE_CONFIG],
          useFactory: (
            config: Partial<RoutingConfig> & { LEADS_BACKGROUND_JOBS?: boolean },
          ): RoutingOptions => ({
            ...routingOptionsOf(config),
            ...overrides,
          }),
        },
      ],
      exports: routingExports,
    };
  }
}
