import {
  Module,
  type DynamicModule,
  type INestApplicationContext,
  type ModuleMetadata,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createConnection, type Connection } from 'mongoose';
import { EventPublisher } from '@tributary/messaging';
import { STORE_CONNECTION } from '@tributary/store';
import { createLogger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import { WORKSPACE_KEYS } from '@tributary/access';
import { LeadRouter } from './lead-router.service';
import { LEAD_ROUTING } from './lead-routing.port';
import { RoutingRulesController } from './routing-rules.controller';
import { RoutingRulesStore } from './routing-rules.store';
import { RoutingModule } from './routing.module';
import { routingOptionsOf, routingProviders } from './routing.providers';
import { ROUTING_OPTIONS, type RoutingOptions } from './routing.types';
import { SlaSweeper } from './sla-sweeper';

type Config = Parameters<typeof routingOptionsOf>[0];

@Module({})
class Globals {}

@Module({})
class Root {}

describe('routing providers and module', () => {
  let connection: Connection;
  let app: INestApplicationContext | undefined;
  let sweep: jest.SpyInstance;

  beforeEach(() => {
    // Only Nest's timers are faked: its start-up runs on real ticks and microtasks.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    // Never opened: routing only defines its models on it until a sweep runs (stubbed here).
    connection = createConnection();
    sweep = jest
      .spyOn(SlaSweeper.prototype, 'sweep')
      .mockResolvedValue({ breached: 0, assigned: 0, republished: 0, recounted: 0, rearmed: 0 });
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    sweep.mockRestore();
    jest.useRealTimers();
    await connection.close();
  });

  /** An application context with EventServiceModule's globals stood in for (the guard's keys too) and `routing`. */
  async function boot(config: Config, routing: Pick<ModuleMetadata, 'imports' | 'providers'>) {
    const globals: DynamicModule = {
      module: Globals,
      global: true,
      providers: [
        { provide: STORE_CONNECTION, useValue: connection },
        { provide: EventPublisher, useValue: {} },
        { provide: SERVICE_LOGGER, useValue: createLogger('routing-providers', 'silent') },
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: WORKSPACE_KEYS, useValue: { resolve: () => undefined } },
      ],
      exports: [STORE_CONNECTION, EventPublisher, SERVICE_LOGGER, SERVICE_CONFIG, WORKSPACE_KEYS],
    };
    app = await NestFactory.createApplicationContext(
      { module: Root, imports: [globals, ...(routing.imports ?? [])], providers: routing.providers ?? [] },
      { logger: false },
    );
    return app;
  }

  it('sweeps on ROUTING_SWEEP_INTERVAL_MS by default', async () => {
    await boot({ ROUTING_SWEEP_INTERVAL_MS: 100 }, { providers: routingProviders });
    await jest.advanceTimersByTimeAsync(99);
    expect(sweep).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(sweep).toHaveBeenCalledTimes(1);
  });

  it('does not sweep when LEADS_BACKGROUND_JOBS is off (one-shot tools such as the rescore CLI)', async () => {
    await boot(
      { ROUTING_SWEEP_INTERVAL_MS: 100, LEADS_BACKGROUND_JOBS: false },
      { providers: routingProviders },
    );
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sweep).not.toHaveBeenCalled();
  });

  it('lets an options provider after the list turn the sweep off, as LeadsModule.forRescore does', async () => {
    const config = { ROUTING_SWEEP_INTERVAL_MS: 100, LEADS_BACKGROUND_JOBS: true };
    const context = await boot(config, {
      providers: [
        ...routingProviders,
        { provide: ROUTING_OPTIONS, useValue: { ...routingOptionsOf(config), sweep: false } },
      ],
    });
    expect(context.get<RoutingOptions>(ROUTING_OPTIONS)).toMatchObject({ sweep: false });
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sweep).not.toHaveBeenCalled();
  });

  it("falls back to the shape's default interval when the config does not carry the key", () => {
    expect(routingOptionsOf({})).toEqual({
      sweepIntervalMs: 5_000,
      reconcileIntervalMs: 600_000,
      sweep: true,
    });
  });

  it('RoutingModule binds the port to the router, mounts the rules API and sweeps by the config', async () => {
    const context = await boot({ ROUTING_SWEEP_INTERVAL_MS: 100 }, { imports: [RoutingModule] });
    expect(context.get(LEAD_ROUTING)).toBe(context.get(LeadRouter));
    expect(context.get(RoutingRulesStore)).toBeInstanceOf(RoutingRulesStore);
    expect(context.get(RoutingRulesController, { strict: false })).toBeInstanceOf(RoutingRulesController);
    await jest.advanceTimersByTimeAsync(100);
    expect(sweep).toHaveBeenCalledTimes(1);
  });

  it('RoutingModule.headless has no rules API and takes its overrides over the config', async () => {
    const context = await boot(
      { ROUTING_SWEEP_INTERVAL_MS: 100, LEADS_BACKGROUND_JOBS: true },
      { imports: [RoutingModule.headless({ sweep: false })] },
    );
    expect(context.get(LEAD_ROUTING)).toBe(context.get(LeadRouter));
    expect(() => context.get(RoutingRulesController, { strict: false })).toThrow();
    expect(context.get<RoutingOptions>(ROUTING_OPTIONS)).toEqual({
      sweepIntervalMs: 100,
      reconcileIntervalMs: 600_000,
      sweep: false,
    });
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sweep).not.toHaveBeenCalled();
  });
});
