import {
  Inject,
  Module,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type OnModuleInit,
} from '@nestjs/common';
import type { Admin, Kafka } from 'kafkajs';
import { AvroSchemaRegistry, KAFKA_ADMIN, KAFKA_CLIENT } from '@tributary/messaging';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { AUTH_FAILURES, RATE_LIMITER, StaticWorkspaceKeys, WORKSPACE_KEYS } from './workspace-auth';
import type { ServiceConfig } from '@tributary/config';
import { AuthFailures } from './auth-failures';
import { CredentialTable } from './credential-table';
import { authFailureSettings, requestAllowances } from './rate-limit.config';
import { WorkspaceRateLimits } from './rate-limits';
import { sharedAccessSettings, type SharedAccessSettings } from './shared-access.config';
import { SharedCredentials } from './shared-credentials';

/** DI token of the resolved SharedAccessSettings. */
export const SHARED_ACCESS_SETTINGS = Symbol('SHARED_ACCESS_SETTINGS');

/**
 * The edge's keys and scopes for a service that is not the edge: provides WORKSPACE_KEYS (so WorkspaceKeyGuard and
 * RequireScopes work as they do at the edge) backed by the service's own credential table, plus bootstrap WRITE_KEYS,
 * and the edge's request limits (RATE_LIMITER: per credential and per workspace; AUTH_FAILURES: wrong credentials
 * per client address), so these APIs are throttled like the edge's.
 * Start-up waits until the table has read `access.credentials` up to where it stood, so HTTP never opens with a
 * partial table. Needs EventServiceModule (Kafka, registry, logger) imported next to it.
 */
@Module({})
export class SharedAccessModule implements OnModuleInit, BeforeApplicationShutdown {
  constructor(
    private readonly table: CredentialTable,
    @Inject(SHARED_ACCESS_SETTINGS) private readonly settings: SharedAccessSettings,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  static forRoot(config: ServiceConfig & Partial<SharedAccessSettings>): DynamicModule {
    const settings = sharedAccessSettings(config);
    return {
      module: SharedAccessModule,
      global: true,
      providers: [
        { provide: SHARED_ACCESS_SETTINGS, useValue: settings },
        {
          provide: CredentialTable,
          inject: [KAFKA_CLIENT, KAFKA_ADMIN, AvroSchemaRegistry, SERVICE_LOGGER],
          useFactory: (kafka: Kafka, admin: Admin, registry: AvroSchemaRegistry, logger: Logger) =>
            new CredentialTable({
              kafka,
              admin,
              registry,
              logger,
              service: config.SERVICE_NAME,
              replicationFactor: config.TOPIC_REPLICATION_FACTOR,
            }),
        },
        {
          provide: SharedCredentials,
          inject: [CredentialTable],
          useFactory: (table: CredentialTable) =>
            new SharedCredentials(table, {
              issuer: settings.OAUTH_ISSUER,
              audience: settings.OAUTH_AUDIENCE,
              bootstrap: new StaticWorkspaceKeys(config.WRITE_KEYS),
            }),
        },
        { provide: WORKSPACE_KEYS, useExisting: SharedCredentials },
        { provide: RATE_LIMITER, useFactory: () => new WorkspaceRateLimits(requestAllowances(settings)) },
        { provide: AUTH_FAILURES, useFactory: () => new AuthFailures(authFailureSettings(settings)) },
      ],
      exports: [
        WORKSPACE_KEYS,
        RATE_LIMITER,
        AUTH_FAILURES,
        SharedCredentials,
        CredentialTable,
        SHARED_ACCESS_SETTINGS,
      ],
    };
  }

  async onModuleInit(): Promise<void> {
    const timeoutMs = this.settings.ACCESS_TABLE_READY_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      // One bound for joining and catching up: a consumer that never gets its group must fail start-up, not hang it.
      await Promise.race([
        this.table.start().then(() => this.table.waitUntilReady(timeoutMs)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`credential table did not start reading within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      this.logger.error({ err: error }, 'credential table did not catch up: not starting');
      await this.table.stop();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.table.stop();
  }
}
