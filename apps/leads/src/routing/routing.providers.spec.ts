import { createConnection, type Connection } from 'mongoose';
import type { EventPublisher } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { LeadRouter } from './lead-router.service';
import { RoutingRulesStore } from './routing-rules.store';
import { routingOptionsOf } from './routing.providers';

describe('routing options', () => {
  let connection: Connection;

  beforeEach(() => {
    jest.useFakeTimers();
    // Never opened: the router only defines its models on it until a sweep runs.
    connection = createConnection();
  });

  afterEach(async () => {
    jest.useRealTimers();
    await connection.close();
  });

  function routerWith(config: Parameters<typeof routingOptionsOf>[0]): {
    router: LeadRouter;
    sweep: jest.SpyInstance;
  } {
    const router = new LeadRouter(
      connection,
      {} as EventPublisher,
      new RoutingRulesStore(connection),
      routingOptionsOf(config),
      createLogger('routing-options', 'silent'),
    );
    const sweep = jest
      .spyOn(router, 'sweep')
      .mockResolvedValue({ breached: 0, assigned: 0, republished: 0, recounted: 0, rearmed: 0 });
    return { router, sweep };
  }

  it('sweeps on ROUTING_SWEEP_INTERVAL_MS by default', async () => {
    const { router, sweep } = routerWith({ ROUTING_SWEEP_INTERVAL_MS: 100 });
    router.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(99);
    expect(sweep).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(sweep).toHaveBeenCalledTimes(1);
    await router.onModuleDestroy();
  });

  it('does not sweep when LEADS_BACKGROUND_JOBS is off (one-shot tools such as the rescore CLI)', async () => {
    const { router, sweep } = routerWith({ ROUTING_SWEEP_INTERVAL_MS: 100, LEADS_BACKGROUND_JOBS: false });
    router.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sweep).not.toHaveBeenCalled();
    await router.onModuleDestroy();
  });

  it("falls back to the shape's default interval when the config does not carry the key", () => {
    expect(routingOptionsOf({})).toEqual({
      sweepIntervalMs: 5_000,
      reconcileIntervalMs: 600_000,
      sweep: true,
    });
  });
});
