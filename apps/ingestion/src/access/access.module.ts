import {
  Global,
  Inject,
  Module,
  RequestMethod,
  type MiddlewareConsumer,
  type NestModule,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Connection } from 'mongoose';
import {
  AuthFailures,
  authFailureSettings,
  requestAllowances,
  WorkspaceRateLimits,
  AUTH_FAILURES,
  RATE_LIMITER,
  StaticWorkspaceKeys,
  WORKSPACE_KEYS,
} from '@tributary/access';
import { STORE_CONNECTION } from '@tributary/store';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import type { IngestionConfig } from '../config';
import { INSECURE_DEV_ADMIN_TOKEN } from './access.config';
import { AccessAdministration } from './access-admin.service';
import { AccessTokens } from './access-tokens';
import { AdminController } from './admin.controller';
import { AdminGuard } from './admin-auth';
import { AuditLog } from './audit-log';
import { CredentialFeed } from './credential-feed';
import { CredentialStore } from './credential-store';
import { EdgeCredentials } from './edge-credentials';
import { OAuthController } from './oauth.controller';
import { OAuthTokenExchange } from './oauth-token.service';
import { RequestIdMiddleware } from './request-id.middleware';
import { MongoSigningKeyStore, SigningKeyring } from './signing-keys';
import { trackingCost } from '../tracking/tracking-cost';

/** Seconds a rotated-out signing key keeps verifying beyond the token lifetime (clock skew between replicas). */
const SIGNING_KEY_SKEW_SECONDS = 60;

/**
 * Who may call the edge, for every controller: API keys and OAuth2 clients from ingestion's store (WRITE_KEYS stay
 * as bootstrap keys), rate limits per credential and per workspace in requests and, for tracking, events and bytes
 * (WorkspaceKeyGuard picks up RATE_LIMITER), the failed-authentication throttle (AUTH_FAILURES), request ids, and the
 * admin API that manages credentials and audits every change. Every credential change (and, at start-up, the state of
 * all of them) goes to `access.credentials`, from which other services honour the same keys (@tributary/access).
 */
@Global()
@Module({
  controllers: [AdminController, OAuthController],
  providers: [
    {
      provide: CredentialStore,
      inject: [STORE_CONNECTION],
      useFactory: (connection: Connection) => new CredentialStore(connection),
    },
    {
      provide: SigningKeyring,
      inject: [STORE_CONNECTION, SERVICE_CONFIG],
      useFactory: async (connection: Connection, config: IngestionConfig) => {
        const keyring = new SigningKeyring(new MongoSigningKeyStore(connection), {
          cacheTtlMs: config.ACCESS_CACHE_TTL_MS,
          retireAfterMs: (config.OAUTH_TOKEN_TTL_SECONDS + SIGNING_KEY_SKEW_SECONDS) * 1000,
        });
        await keyring.init();
        return keyring;
      },
    },
    {
      provide: AccessTokens,
      inject: [SigningKeyring, SERVICE_CONFIG],
      useFactory: (keyring: SigningKeyring, config: IngestionConfig) =>
        new AccessTokens(keyring, {
          issuer: config.OAUTH_ISSUER,
          audience: config.OAUTH_AUDIENCE,
          ttlSeconds: config.OAUTH_TOKEN_TTL_SECONDS,
        }),
    },
    {
      provide: EdgeCredentials,
      inject: [CredentialStore, AccessTokens, SERVICE_CONFIG],
      useFactory: (store: CredentialStore, tokens: AccessTokens, config: IngestionConfig) =>
        new EdgeCredentials(
          store,
          tokens,
          new StaticWorkspaceKeys(config.WRITE_KEYS),
          config.ACCESS_CACHE_TTL_MS,
        ),
    },
    { provide: WORKSPACE_KEYS, useExisting: EdgeCredentials },
    {
      provide: RATE_LIMITER,
      inject: [SERVICE_CONFIG],
      useFactory: (config: IngestionConfig) =>
        new WorkspaceRateLimits(
          {
            ...requestAllowances(config),
            workspaceEvents: {
              perSecond: config.RATE_LIMIT_EVENTS_PER_SECOND,
              burst: config.RATE_LIMIT_EVENTS_BURST,
            },
            workspaceBytes: {
              perSecond: config.RATE_LIMIT_BYTES_PER_SECOND,
              burst: config.RATE_LIMIT_BYTES_BURST,
            },
          },
          trackingCost,
        ),
    },
    {
      provide: AUTH_FAILURES,
      inject: [SERVICE_CONFIG],
      useFactory: (config: IngestionConfig) => new AuthFailures(authFailureSettings(config)),
    },
    CredentialFeed,
    AuditLog,
    AccessAdministration,
    OAuthTokenExchange,
    AdminGuard,
  ],
  exports: [WORKSPACE_KEYS, RATE_LIMITER, AUTH_FAILURES],
})
export class AccessModule implements NestModule, OnApplicationBootstrap {
  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestIdMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }

  onApplicationBootstrap(): void {
    if (this.config.ADMIN_TOKEN === INSECURE_DEV_ADMIN_TOKEN) {
      this.logger.warn(
        { event: 'insecure-admin-token' },
        'ADMIN_TOKEN is unset: the admin API accepts the public dev token (refused when NODE_ENV=production)',
      );
    }
  }
}
