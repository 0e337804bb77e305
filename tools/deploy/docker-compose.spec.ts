/**
 * Structural checks of docker-compose.yml (and the Dockerfile it builds from), without Docker: the infrastructure
 * is there and healthy-gated, and every service's environment passes that service's own config schema.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { ConfigError, type ServiceConfig } from '@tributary/config';
import { SERVICE_ENTRIES, configLoaderOf, serviceEntry } from '../services/service-list';

type Env = Record<string, string | undefined>;

const root = join(__dirname, '..', '..');

// Every service of the one list (tools/services/services.json), checked against its own config loader.
const APPS = SERVICE_ENTRIES.map((s) => s.name);
const loaders = new Map(SERVICE_ENTRIES.map((s) => [s.name, configLoaderOf(s)] as const));
function loadAppConfig(app: string, env: Env): ServiceConfig {
  const loader = loaders.get(app);
  if (!loader) throw new Error(`${app} is not in tools/services/services.json`);
  return loader(env);
}

interface Healthcheck {
  test?: string | string[];
  interval?: string;
  retries?: number;
}
interface DependsOn {
  condition?: string;
}
interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; args?: Record<string, string> | string[] };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target?: number; published?: string | number })[];
  volumes?: (string | { source?: string; target?: string })[];
  depends_on?: string[] | Record<string, DependsOn>;
  healthcheck?: Healthcheck;
  read_only?: boolean;
  stop_grace_period?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * Compose's variable interpolation, for the forms the file uses: $$ (a literal $), ${VAR}, ${VAR:-default},
 * ${VAR-default}, ${VAR:?error}, $VAR. `env` plays the shell; by default nothing is set, so defaults apply.
 */
function interpolate(text: string, env: Env = {}): string {
  return text.replace(
    /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (match, dollar: string, braced?: string, op?: string, arg?: string, bare?: string) => {
      if (dollar === '$') return '$';
      const name = braced ?? bare;
      if (!name) return match;
      const value = env[name];
      const unset = op?.startsWith(':') ? value === undefined || value === '' : value === undefined;
      if (op?.endsWith('-') && unset) return arg ?? '';
      if (op?.endsWith('?') && unset) throw new Error(`required variable ${name} is not set: ${arg ?? ''}`);
      return value ?? '';
    },
  );
}

function environmentOf(service: ComposeService, shell: Env = {}): Record<string, string> {
  const raw = service.environment ?? {};
  const entries: [string, string][] = Array.isArray(raw)
    ? raw.map((item) => {
        const eq = item.indexOf('=');
        return eq < 0 ? [item, shell[item] ?? ''] : [item.slice(0, eq), item.slice(eq + 1)];
      })
    : Object.entries(raw).map(([key, value]) => [key, value === null ? '' : String(value)]);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value, shell)]));
}

function dependsOn(service: ComposeService): Record<string, DependsOn> {
  const raw = service.depends_on ?? {};
  return Array.isArray(raw) ? Object.fromEntries(raw.map((name) => [name, {}])) : raw;
}

/** Published host ports of a service ("29092:29092", "127.0.0.1:80:8080", long syntax). */
function publishedPorts(service: ComposeService): { host: number; container: number }[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object') return { host: Number(port.published), container: Number(port.target) };
    const parts = interpolate(port).split('/')[0]?.split(':') ?? [];
    const container = Number(parts[parts.length - 1]);
    return { host: parts.length >= 2 ? Number(parts[parts.length - 2]) : container, container };
  });
}

function healthcheckCommand(service: ComposeService): string {
  const test = service.healthcheck?.test;
  if (test === undefined) return '';
  return Array.isArray(test) ? test.join(' ') : test;
}

function hostOf(url: string): string {
  return new URL(url).hostname;
}

const compose = load(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as ComposeFile;
const services = compose.services;

/** The one compose service running an image whose name starts with `prefix`. */
function serviceByImage(prefix: string): [string, ComposeService] {
  const matches = Object.entries(services).filter(([, s]) => s.image?.startsWith(prefix));
  expect(matches.map(([name]) => name)).toHaveLength(1);
  return matches[0] as [string, ComposeService];
}

describe('docker-compose.yml', () => {
  describe('infrastructure', () => {
    it('runs Kafka 4.1.1 in KRaft mode with auto-create off, RF 1 internal topics and no rebalance delay', () => {
      const [name, kafka] = serviceByImage('apache/kafka:');
      expect(name).toBe('kafka');
      expect(kafka.image).toBe('apache/kafka:4.1.1');
      const env = environmentOf(kafka);
      expect(env).toMatchObject({
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      });
      // KRaft cluster ids are 16 bytes, base64url without padding.
      expect(Buffer.from(env['CLUSTER_ID'] ?? '', 'base64url')).toHaveLength(16);
      // Containers reach the broker as kafka:9092; the host as localhost:<published port>.
      const advertised = (env['KAFKA_ADVERTISED_LISTENERS'] ?? '').split(',');
      expect(advertised).toContain('PLAINTEXT://kafka:9092');
      const hostListener = advertised.find((l) => l.includes('localhost:'));
      const hostPort = Number(hostListener?.split(':').pop());
      expect(publishedPorts(kafka)).toContainEqual({ host: hostPort, container: hostPort });
      expect(healthcheckCommand(kafka)).toContain('kafka-broker-api-versions.sh');
    });

    it('runs Apicurio Registry 3.3.3 on kafkasql storage, health-checked on its Confluent API', () => {
      const [name, registry] = serviceByImage('apicurio/apicurio-registry:');
      expect(name).toBe('registry');
      expect(registry.image).toBe('apicurio/apicurio-registry:3.3.3');
      expect(environmentOf(registry)).toMatchObject({
        APICURIO_STORAGE_KIND: 'kafkasql',
        APICURIO_KAFKASQL_BOOTSTRAP_SERVERS: 'kafka:9092',
      });
      expect(dependsOn(registry)['kafka']).toEqual({ condition: 'service_healthy' });
      expect(healthcheckCommand(registry)).toContain('/apis/ccompat/v7');
    });

    it('runs MongoDB 7 with a ping health check and a data volume', () => {
      const [name, mongo] = serviceByImage('mongo:');
      expect(name).toBe('mongo');
      expect(mongo.image).toBe('mongo:7');
      expect(healthcheckCommand(mongo)).toContain('ping');
      expect(mongo.volumes).toContainEqual(expect.stringMatching(/:\/data\/db$/));
    });

    it('runs an OpenTelemetry collector that forwards OTLP traces to Jaeger (UI on 16686)', () => {
      const [collectorName, collector] = serviceByImage('otel/opentelemetry-collector-contrib');
      const [jaegerName, jaeger] = serviceByImage('jaegertracing/all-in-one');
      expect(collectorName).toBe('otel-collector');
      expect(environmentOf(jaeger)['COLLECTOR_OTLP_ENABLED']).toBe('true');
      expect(publishedPorts(jaeger)).toContainEqual({ host: 16686, container: 16686 });

      const mount = (collector.volumes ?? []).find(
        (v): v is string => typeof v === 'string' && v.startsWith('./deploy/otel-collector.yaml:'),
      );
      expect(mount).toBeDefined();
      const configPath = mount?.split(':')[1];
      expect(String(collector.command)).toContain(`--config=${configPath}`);

      interface CollectorConfig {
        receivers: { otlp: { protocols: { http: { endpoint: string } } } };
        exporters: Record<string, { endpoint: string }>;
        service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } };
      }
      const config = load(
        readFileSync(join(root, 'deploy', 'otel-collector.yaml'), 'utf8'),
      ) as CollectorConfig;
      expect(config.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
      const traces = config.service.pipelines.traces;
      expect(traces.receivers).toContain('otlp');
      const endpoints = traces.exporters.map((e) => config.exporters[e]?.endpoint);
      expect(endpoints).toContain(`${jaegerName}:4317`);
    });

    it('health-checks the infrastructure the services wait for', () => {
      for (const name of ['kafka', 'registry', 'mongo']) {
        expect(services[name]?.healthcheck?.test).toBeDefined();
      }
    });
  });

  describe.each(APPS)('%s', (app) => {
    const service = services[app] as ComposeService;
    const port = serviceEntry(app).port;

    it('is built from the Dockerfile for this service', () => {
      expect(service).toBeDefined();
      expect(service.build).toEqual({ context: '.', args: { SERVICE: app } });
    });

    it("has an environment that passes the service's config schema", () => {
      const env = environmentOf(service, {
        TRIBUTARY_ADMIN_TOKEN: 'compose-test-admin-token-0123456789abcdef',
        TRIBUTARY_UNSUBSCRIBE_SECRET: 'compose-test-unsubscribe-secret-0123456789',
        TRIBUTARY_CONTENT_SECRETS_KEY: 'compose-test-content-secrets-key-0123456789',
        TRIBUTARY_SYNC_CREDENTIALS_KEYS: 'k1:compose-test-sync-credentials-key-0123456789',
      });
      let config: ServiceConfig | undefined;
      try {
        config = loadAppConfig(app, env);
      } catch (error) {
        // Show the schema's own message (it names every bad key).
        throw error instanceof ConfigError ? new Error(error.message) : error;
      }
      expect(config.HTTP_HOST).toBe('0.0.0.0');
      expect(config.HTTP_PORT).toBe(port);
      expect(config.KAFKA_BROKERS).toEqual(['kafka:9092']);
      expect(hostOf(config.SCHEMA_REGISTRY_URL)).toBe('registry');
      expect(new URL(config.SCHEMA_REGISTRY_URL).pathname).toBe('/apis/ccompat/v7');
      expect(hostOf(config.MONGO_URL)).toBe('mongo');
      expect(config.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
      expect(config.WRITE_KEYS).toMatch(/^[^:,]+:[^:,]+(,[^:,]+:[^:,]+)*$/);
    });

    it('takes write keys from the shell when set', () => {
      const env = environmentOf(service, {
        TRIBUTARY_WRITE_KEYS: 'k1:ws_a,k2:ws_b',
        TRIBUTARY_ADMIN_TOKEN: 'compose-test-admin-token-0123456789abcdef',
        TRIBUTARY_UNSUBSCRIBE_SECRET: 'compose-test-unsubscribe-secret-0123456789',
        TRIBUTARY_CONTENT_SECRETS_KEY: 'compose-test-content-secrets-key-0123456789',
        TRIBUTARY_SYNC_CREDENTIALS_KEYS: 'k1:compose-test-sync-credentials-key-0123456789',
      });
      expect(loadAppConfig(app, env).WRITE_KEYS).toBe('k1:ws_a,k2:ws_b');
    });

    it('publishes its HTTP port and health-checks /health/ready on it', () => {
      expect(publishedPorts(service)).toEqual([{ host: port, container: port }]);
      const check = healthcheckCommand(service);
      expect(check).toContain(`:${port}/health/ready`);
      expect(service.healthcheck?.retries).toBeGreaterThan(0);
    });

    it('starts only once Kafka, the registry and MongoDB are healthy', () => {
      const deps = dependsOn(service);
      for (const infra of ['kafka', 'registry', 'mongo']) {
        expect(deps[infra]).toEqual({ condition: 'service_healthy' });
      }
      expect(Object.keys(deps)).toContain('otel-collector');
    });

    it('gets time for a graceful Kafka shutdown and runs on a read-only filesystem', () => {
      expect(service.stop_grace_period).toBe('30s');
      const shutdownMs = Number(environmentOf(service)['SHUTDOWN_TIMEOUT_MS'] ?? 15_000);
      expect(shutdownMs).toBeLessThan(30_000);
      expect(service.read_only).toBe(true);
    });
  });

  it('publishes every host port once', () => {
    const published = Object.values(services).flatMap((s) => publishedPorts(s).map((p) => p.host));
    expect(published.length).toBeGreaterThanOrEqual(APPS.length + 1);
    expect(new Set(published).size).toBe(published.length);
  });

  it('depends only on services that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const dep of Object.keys(dependsOn(service))) {
        expect(`${name} -> ${dep}: ${dep in services}`).toBe(`${name} -> ${dep}: true`);
      }
    }
  });

  it('declares every named volume it mounts', () => {
    const named = Object.values(services)
      .flatMap((s) => s.volumes ?? [])
      .map((v) => (typeof v === 'string' ? v.split(':')[0] : v.source))
      .filter((source): source is string => !!source && !source.startsWith('.') && !source.startsWith('/'));
    for (const volume of named) expect(Object.keys(compose.volumes ?? {})).toContain(volume);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const dockerignore = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));

  it('starts the entry point that `nx build <svc>` writes', () => {
    expect(dockerfile).toContain('exec node dist/apps/$SERVICE/apps/$SERVICE/src/main.js');
    for (const app of APPS) {
      const tsconfig = JSON.parse(readFileSync(join(root, 'apps', app, 'tsconfig.app.json'), 'utf8')) as {
        compilerOptions: { outDir: string; rootDir: string };
      };
      // outDir dist/apps/<svc> with rootDir = repo root puts src/main.ts at dist/apps/<svc>/apps/<svc>/src/main.js.
      expect(tsconfig.compilerOptions).toMatchObject({ outDir: `../../dist/apps/${app}`, rootDir: '../..' });
    }
  });

  it('builds on node:20-slim, prunes dev dependencies and runs as a non-root user', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-slim$/m);
    expect(dockerfile).toContain('npm ci');
    expect(dockerfile).toContain('npx nx build "${SERVICE}"');
    expect(dockerfile).toContain('npm prune --omit=dev');
    const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
    expect(users.at(-1)).toMatch(/^[1-9][0-9]*(:[0-9]+)?$/);
  });

  it('keeps the sources the build needs in the build context', () => {
    for (const needed of ['apps', 'libs', 'schemas', 'package.json', 'package-lock.json', 'nx.json']) {
      expect(dockerignore).not.toContain(needed);
    }
    expect(dockerignore).toEqual(expect.arrayContaining(['**/node_modules', 'dist', '.git', '.env']));
  });
});

describe('docker-compose.yml ingestion admin token', () => {
  it('refuses to start ingestion in production without TRIBUTARY_ADMIN_TOKEN, naming ADMIN_TOKEN', () => {
    const ingestion = services['ingestion'] as ComposeService;
    expect(() => loadAppConfig('ingestion', environmentOf(ingestion))).toThrow(/ADMIN_TOKEN/);
  });

  it('refuses to start orchestration in production without TRIBUTARY_UNSUBSCRIBE_SECRET, naming it', () => {
    const orchestration = services['orchestration'] as ComposeService;
    expect(() => loadAppConfig('orchestration', environmentOf(orchestration))).toThrow(/UNSUBSCRIBE_SECRET/);
  });

  it('refuses to start orchestration in production without TRIBUTARY_CONTENT_SECRETS_KEY, naming it', () => {
    const orchestration = services['orchestration'] as ComposeService;
    const env = environmentOf(orchestration, {
      TRIBUTARY_UNSUBSCRIBE_SECRET: 'compose-test-unsubscribe-secret-0123456789',
    });
    expect(() => loadAppConfig('orchestration', env)).toThrow(/CONTENT_SECRETS_KEY/);
  });

  it('refuses to start sync in production without TRIBUTARY_SYNC_CREDENTIALS_KEYS, naming it', () => {
    const sync = services['sync'] as ComposeService;
    expect(() => loadAppConfig('sync', environmentOf(sync))).toThrow(/SYNC_CREDENTIALS_KEYS/);
  });
});
