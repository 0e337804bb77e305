import 'reflect-metadata';
import { NestFactory, Reflector } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  createLogger,
  httpTracing,
  NestPinoLogger,
  startTelemetry,
  stopTelemetry,
} from '@tributary/observability';
import { ConfigError, type ServiceConfig } from '@tributary/config';
import { RequestInputInterceptor } from './request-input';
import { KafkaEventTransport } from '@tributary/messaging';
import { ServiceErrorFilter } from './service-error.filter';

/** A started service: its Nest app and the URL it serves HTTP on. */
export interface RunningService {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

/** Per-service HTTP setup that must run before the app initialises (body parsers, API docs). */
export type ConfigureApp = (app: INestApplication, config: ServiceConfig) => void | Promise<void>;

export interface StartOptions {
  /** Span exporter override (tests); otherwise OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  spanExporter?: SpanExporter;
  /** HTTP setup hook; defaults to a static `configureApp` on the root module class, so every start path gets it. */
  configureApp?: ConfigureApp;
}

/**
 * Boots a service: telemetry, Nest app with JSON logs and HTTP spans, the Kafka transport for its
 * `@EventPattern` handlers, then HTTP. Logs one `ready` line saying where to reach it.
 */
export async function startService(
  module: DynamicModule,
  config: ServiceConfig,
  options: StartOptions = {},
): Promise<RunningService> {
  const service = config.SERVICE_NAME;
  startTelemetry({
    serviceName: `tributary-${service}`,
    otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    exporter: options.spanExporter,
  });
  const logger = createLogger(service, config.LOG_LEVEL);
  const step = startupSteps(logger);
  const app = await step(
    'creating the app (store connections, module init)',
    NestFactory.create<NestExpressApplication>(module, {
      logger: new NestPinoLogger(logger),
      abortOnError: false,
    }),
  );
  // Naming the framework only helps someone looking for its known holes.
  app.disable('x-powered-by');
  app.use(httpTracing(service));
  const configureApp =
    options.configureApp ?? (module.module as { configureApp?: ConfigureApp }).configureApp;
  await configureApp?.(app, config);

  // The transport inherits the error filter (it hands a handler's error on as thrown) because it is set before
  // connecting; the HTTP input interceptor comes after, so events skip Nest's interceptor chain, which cost each
  // event about three times its handler call.
  app.useGlobalFilters(new ServiceErrorFilter(logger));
  const transport = app.get(KafkaEventTransport);
  app.connectMicroservice({ strategy: transport }, { inheritAppConfig: true });
  app.useGlobalInterceptors(new RequestInputInterceptor(app.get(Reflector)));
  // Consumers first: once /health/ready answers, the group owns its partitions, so nothing published after
  // readiness is skipped by a group that starts at the latest offset.
  await step('joining the consumer group', app.startAllMicroservices());
  await step('listening for HTTP', app.listen(config.HTTP_PORT, config.HTTP_HOST));

  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  logger.info(
    {
      event: 'ready',
      url,
      health: `${url}/health/ready`,
      consumerGroup: service,
      consumes: transport.subscribedTopics(),
    },
    `${service} ready at ${url}`,
  );
  return {
    app,
    url,
    close: async () => {
      await app.close();
    },
  };
}

/** How long a startup step may take before a warning names it: a stuck start then says where it is stuck. */
const SLOW_STEP_MS = 15_000;

function startupSteps(logger: ReturnType<typeof createLogger>) {
  return async <T>(name: string, work: Promise<T>): Promise<T> => {
    const started = Date.now();
    const warn = setInterval(
      () => logger.warn({ step: name, waitedMs: Date.now() - started }, `startup still ${name}`),
      SLOW_STEP_MS,
    );
    warn.unref();
    try {
      return await work;
    } finally {
      clearInterval(warn);
    }
  };
}

/** Entry point helper for apps/*\/src/main.ts: load config, start, exit non-zero with a clear message on failure. */
export function runServiceMain(load: () => { module: DynamicModule; config: ServiceConfig }): void {
  let loaded: { module: DynamicModule; config: ServiceConfig };
  try {
    loaded = load();
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  }
  const { config } = loaded;
  const logger = createLogger(config.SERVICE_NAME, config.LOG_LEVEL);
  startService(loaded.module, config)
    .then(({ app }) => {
      app.getHttpServer().on('close', () => void stopTelemetry());
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        process.once(signal, () => {
          logger.info({ signal }, 'shutting down: finishing in-flight batches, committing, disconnecting');
          // Bounded, so a stuck dependency cannot block a rollout.
          setTimeout(() => {
            logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'graceful shutdown timed out: exiting');
            process.exit(1);
          }, config.SHUTDOWN_TIMEOUT_MS).unref();
          app.close().then(
            () => {
              logger.info('stopped');
              process.exit(0);
            },
            (error: unknown) => {
              logger.error({ err: error }, 'shutdown failed');
              process.exit(1);
            },
          );
        });
      }
    })
    .catch((error: unknown) => {
      logger.fatal({ err: error }, 'failed to start');
      process.exit(1);
    });
}
