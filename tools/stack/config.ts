// Stack configuration from the environment, and every path the stack uses. Pure: no I/O here.
import * as os from 'node:os';
import * as path from 'node:path';
import { StackError } from './errors';
import { VERSIONS } from './versions';

export type ComponentName = 'kafka' | 'registry' | 'postgres' | 'mongo';

/** Every component the tool knows, in start order; `down` walks it backwards. */
export const COMPONENTS: readonly ComponentName[] = ['kafka', 'registry', 'postgres', 'mongo'];

/** What FerretDB stores its data in: PostgreSQL (default) or SQLite files (no extra server). */
export type StoreBackend = 'postgresql' | 'sqlite';

export const STORE_BACKENDS: readonly StoreBackend[] = ['postgresql', 'sqlite'];

/** The components this configuration runs, in start order (SQLite needs no PostgreSQL). */
export function stackComponents(config: Pick<StackConfig, 'storeBackend'>): ComponentName[] {
  return COMPONENTS.filter((name) => name !== 'postgres' || config.storeBackend === 'postgresql');
}

export interface StackPorts {
  kafka: number;
  kafkaController: number;
  registry: number;
  registryManagement: number;
  postgres: number;
  mongo: number;
}

export interface StackConfig {
  repoRoot: string;
  /** Downloads and builds, shared by every checkout: never deleted by `reset`. */
  cacheDir: string;
  /** Runtime data, pid files, logs, generated configs: deleted by `reset`. */
  stackDir: string;
  /** Everything binds to loopback only. */
  host: string;
  ports: StackPorts;
  /** Explicit java binaries (TRIBUTARY_KAFKA_JAVA / TRIBUTARY_REGISTRY_JAVA), else discovered. */
  java: { kafka?: string; registry?: string };
  /** FerretDB's backend (TRIBUTARY_STORE_BACKEND). */
  storeBackend: StoreBackend;
  /** A PostgreSQL bin directory (TRIBUTARY_POSTGRES_BIN), else the newest /usr/lib/postgresql/<major>/bin. */
  postgresBin?: string;
  /** Overrides every component's start timeout (TRIBUTARY_STACK_TIMEOUT_S). */
  startTimeoutMs?: number;
}

export interface StackEndpoints {
  kafkaBrokers: string;
  schemaRegistryUrl: string;
  mongoUrl: string;
  /** The same, as the variables the apps read. */
  env: { KAFKA_BROKERS: string; SCHEMA_REGISTRY_URL: string; MONGO_URL: string };
}

export const PORT_ENV: Record<keyof StackPorts, string> = {
  kafka: 'TRIBUTARY_KAFKA_PORT',
  kafkaController: 'TRIBUTARY_KAFKA_CONTROLLER_PORT',
  registry: 'TRIBUTARY_REGISTRY_PORT',
  registryManagement: 'TRIBUTARY_REGISTRY_MGMT_PORT',
  postgres: 'TRIBUTARY_POSTGRES_PORT',
  mongo: 'TRIBUTARY_MONGO_PORT',
};

export const DEFAULT_PORTS: StackPorts = {
  kafka: 9092,
  kafkaController: 9093,
  registry: 8081,
  registryManagement: 9001,
  postgres: 5432,
  mongo: 27017,
};

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  home?: string;
  repoRoot?: string;
}

/** tools/stack -> repo root; works both from source (swc) and from jest. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export function loadConfig(options: LoadConfigOptions = {}): StackConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const home = options.home ?? os.homedir();
  const repoRoot = options.repoRoot ?? REPO_ROOT;

  const ports = {} as StackPorts;
  for (const key of Object.keys(DEFAULT_PORTS) as (keyof StackPorts)[]) {
    ports[key] = parsePort(env[PORT_ENV[key]], PORT_ENV[key], DEFAULT_PORTS[key]);
  }
  assertDistinctPorts(ports);

  const timeoutRaw = nonEmpty(env['TRIBUTARY_STACK_TIMEOUT_S']);
  let startTimeoutMs: number | undefined;
  if (timeoutRaw !== undefined) {
    const seconds = Number(timeoutRaw);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new StackError(
        `TRIBUTARY_STACK_TIMEOUT_S must be a positive number of seconds, got '${timeoutRaw}'`,
      );
    }
    startTimeoutMs = Math.round(seconds * 1000);
  }

  const cacheRaw = nonEmpty(env['TRIBUTARY_CACHE_DIR']);
  const stackRaw = nonEmpty(env['TRIBUTARY_STACK_DIR']);
  const kafkaJava = nonEmpty(env['TRIBUTARY_KAFKA_JAVA']);
  const registryJava = nonEmpty(env['TRIBUTARY_REGISTRY_JAVA']);
  const postgresBin = nonEmpty(env['TRIBUTARY_POSTGRES_BIN']);
  return {
    repoRoot,
    cacheDir: cacheRaw ? resolvePath(cacheRaw, cwd, home) : path.join(home, '.cache', 'tributary'),
    stackDir: stackRaw ? resolvePath(stackRaw, cwd, home) : path.join(repoRoot, '.stack'),
    host: '127.0.0.1',
    ports,
    java: {
      ...(kafkaJava ? { kafka: resolvePath(kafkaJava, cwd, home) } : {}),
      ...(registryJava ? { registry: resolvePath(registryJava, cwd, home) } : {}),
    },
    storeBackend: parseStoreBackend(env['TRIBUTARY_STORE_BACKEND']),
    ...(postgresBin ? { postgresBin: resolvePath(postgresBin, cwd, home) } : {}),
    ...(startTimeoutMs !== undefined ? { startTimeoutMs } : {}),
  };
}

export function parsePort(raw: string | undefined, name: string, fallback: number): number {
  const value = nonEmpty(raw);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new StackError(`${name} must be a TCP port (1-65535), got '${value}'`);
  const port = Number(value);
  if (port < 1 || port > 65535) throw new StackError(`${name} must be a TCP port (1-65535), got '${value}'`);
  return port;
}

export function parseStoreBackend(raw: string | undefined): StoreBackend {
  const value = nonEmpty(raw)?.toLowerCase();
  if (value === undefined) return 'postgresql';
  if ((STORE_BACKENDS as readonly string[]).includes(value)) return value as StoreBackend;
  throw new StackError(
    `TRIBUTARY_STORE_BACKEND must be one of ${STORE_BACKENDS.join(', ')}, got '${raw?.trim() ?? ''}'`,
  );
}

function assertDistinctPorts(ports: StackPorts): void {
  const seen = new Map<number, keyof StackPorts>();
  for (const key of Object.keys(ports) as (keyof StackPorts)[]) {
    const other = seen.get(ports[key]);
    if (other) {
      throw new StackError(
        `${PORT_ENV[key]} and ${PORT_ENV[other]} are both ${ports[key]}: each component needs its own port`,
      );
    }
    seen.set(ports[key], key);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function resolvePath(value: string, cwd: string, home: string): string {
  if (value === '~') return home;
  if (value.startsWith('~/')) return path.join(home, value.slice(2));
  return path.resolve(cwd, value);
}

export function stackEndpointsFor(config: StackConfig): StackEndpoints {
  const kafkaBrokers = `${config.host}:${config.ports.kafka}`;
  const schemaRegistryUrl = `http://${config.host}:${config.ports.registry}/apis/ccompat/v7`;
  const mongoUrl = `mongodb://${config.host}:${config.ports.mongo}`;
  return {
    kafkaBrokers,
    schemaRegistryUrl,
    mongoUrl,
    env: { KAFKA_BROKERS: kafkaBrokers, SCHEMA_REGISTRY_URL: schemaRegistryUrl, MONGO_URL: mongoUrl },
  };
}

/** Runtime layout under the stack dir. */
export function stackPaths(config: StackConfig) {
  const dir = config.stackDir;
  return {
    dir,
    /** Proves the directory is ours before `reset` deletes it. */
    marker: path.join(dir, '.tributary-stack'),
    runDir: path.join(dir, 'run'),
    lockFile: path.join(dir, 'run', 'stack.lock'),
    logsDir: path.join(dir, 'logs'),
    confDir: path.join(dir, 'conf'),
    pidFile: (c: ComponentName) => path.join(dir, 'run', `${c}.pid`),
    stateFile: (c: ComponentName) => path.join(dir, 'run', `${c}.json`),
    logFile: (c: ComponentName) => path.join(dir, 'logs', `${c}.log`),
    kafkaProperties: path.join(dir, 'conf', 'kafka', 'server.properties'),
    kafkaLog4j: path.join(dir, 'conf', 'kafka', 'log4j2.properties'),
    kafkaData: path.join(dir, 'data', 'kafka'),
    registryWork: path.join(dir, 'data', 'registry'),
    ferretData: path.join(dir, 'data', 'ferretdb'),
    postgresData: path.join(dir, 'data', 'postgres'),
    /** Unix socket dir: the server's own, not /var/run/postgresql (root-owned, shared with a system cluster). */
    postgresSocketDir: path.join(dir, 'run', 'postgres'),
    ferretState: path.join(dir, 'data', 'ferretdb-state'),
  };
}

/** Download/build layout under the cache dir; versioned so several versions can coexist. */
export function cachePaths(config: StackConfig) {
  const dir = config.cacheDir;
  const kafkaHome = path.join(dir, `kafka-${VERSIONS.kafka}`);
  const apicurioHome = path.join(dir, `apicurio-${VERSIONS.apicurio}`);
  const apicurioArtifact = `apicurio-registry-app-${VERSIONS.apicurio}-all.tar.gz`;
  return {
    dir,
    kafkaHome,
    kafkaLibs: path.join(kafkaHome, 'libs'),
    kafkaBuild: path.join(dir, 'build', 'kafka'),
    apicurioHome,
    apicurioJar: path.join(apicurioHome, 'quarkus-run.jar'),
    apicurioBuild: path.join(dir, 'build', 'apicurio'),
    downloads: path.join(dir, 'downloads'),
    apicurioArtifact,
    apicurioTarball: path.join(dir, 'downloads', apicurioArtifact),
    ferretBin: path.join(
      dir,
      'bin',
      `ferretdb-${VERSIONS.ferretdb}-tributary.${VERSIONS.ferretdbPatchLevel}`,
    ),
    ferretBuild: path.join(dir, 'build', 'ferretdb'),
    ferretSrc: path.join(dir, 'build', 'ferretdb-src'),
  };
}

/** Marker written last, so an interrupted download is never mistaken for a complete one. */
export const COMPLETE_MARKER = '.complete';
