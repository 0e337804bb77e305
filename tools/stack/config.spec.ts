import {
  DEFAULT_PORTS,
  loadConfig,
  parsePort,
  stackComponents,
  stackEndpointsFor,
  stackPaths,
} from './config';
import { StackError } from './errors';

const base = { cwd: '/work/repo', home: '/home/dev', repoRoot: '/work/repo' };

describe('loadConfig', () => {
  it('defaults: standard ports, cache in ~/.cache/tributary, stack dir in <repo>/.stack', () => {
    const config = loadConfig({ ...base, env: {} });
    expect(config.ports).toEqual({
      kafka: 9092,
      kafkaController: 9093,
      registry: 8081,
      registryManagement: 9001,
      postgres: 5432,
      mongo: 27017,
    });
    expect(config.cacheDir).toBe('/home/dev/.cache/tributary');
    expect(config.stackDir).toBe('/work/repo/.stack');
    expect(config.host).toBe('127.0.0.1');
    expect(config.java).toEqual({});
    expect(config.startTimeoutMs).toBeUndefined();
    expect(config.storeBackend).toBe('postgresql');
    expect(config.postgresBin).toBeUndefined();
  });

  it('reads ports, directories, java overrides and the timeout from the environment', () => {
    const config = loadConfig({
      ...base,
      env: {
        TRIBUTARY_KAFKA_PORT: '29092',
        TRIBUTARY_KAFKA_CONTROLLER_PORT: '29093',
        TRIBUTARY_REGISTRY_PORT: '28081',
        TRIBUTARY_REGISTRY_MGMT_PORT: '29001',
        TRIBUTARY_POSTGRES_PORT: '15432',
        TRIBUTARY_MONGO_PORT: ' 27117 ',
        TRIBUTARY_CACHE_DIR: '~/caches/trib',
        TRIBUTARY_STACK_DIR: 'tmp/stack',
        TRIBUTARY_REGISTRY_JAVA: '/opt/jdk-21/bin/java',
        TRIBUTARY_STACK_TIMEOUT_S: '2.5',
        TRIBUTARY_STORE_BACKEND: 'SQLite',
        TRIBUTARY_POSTGRES_BIN: '~/pg/16/bin',
      },
    });
    expect(config.ports).toEqual({
      kafka: 29092,
      kafkaController: 29093,
      registry: 28081,
      registryManagement: 29001,
      postgres: 15432,
      mongo: 27117,
    });
    expect(config.cacheDir).toBe('/home/dev/caches/trib');
    expect(config.stackDir).toBe('/work/repo/tmp/stack');
    expect(config.java).toEqual({ registry: '/opt/jdk-21/bin/java' });
    expect(config.startTimeoutMs).toBe(2500);
    expect(config.storeBackend).toBe('sqlite');
    expect(config.postgresBin).toBe('/home/dev/pg/16/bin');
  });

  it('treats empty variables as unset', () => {
    const config = loadConfig({ ...base, env: { TRIBUTARY_KAFKA_PORT: '', TRIBUTARY_STACK_DIR: '  ' } });
    expect(config.ports.kafka).toBe(DEFAULT_PORTS.kafka);
    expect(config.stackDir).toBe('/work/repo/.stack');
  });

  it('rejects two components on one port, naming both variables', () => {
    expect(() => loadConfig({ ...base, env: { TRIBUTARY_MONGO_PORT: '9092' } })).toThrow(
      /TRIBUTARY_MONGO_PORT and TRIBUTARY_KAFKA_PORT are both 9092/,
    );
  });

  it('rejects PostgreSQL and FerretDB on one port', () => {
    expect(() => loadConfig({ ...base, env: { TRIBUTARY_POSTGRES_PORT: '27017' } })).toThrow(
      /TRIBUTARY_MONGO_PORT and TRIBUTARY_POSTGRES_PORT are both 27017/,
    );
  });

  it('rejects an unknown store backend, naming the choices', () => {
    expect(() => loadConfig({ ...base, env: { TRIBUTARY_STORE_BACKEND: 'mysql' } })).toThrow(
      "TRIBUTARY_STORE_BACKEND must be one of postgresql, sqlite, got 'mysql'",
    );
  });

  it('rejects a bad timeout', () => {
    expect(() => loadConfig({ ...base, env: { TRIBUTARY_STACK_TIMEOUT_S: 'soon' } })).toThrow(StackError);
    expect(() => loadConfig({ ...base, env: { TRIBUTARY_STACK_TIMEOUT_S: '0' } })).toThrow(/positive/);
  });
});

describe('stackComponents', () => {
  it('runs PostgreSQL between the registry and FerretDB, and not at all for SQLite', () => {
    expect(stackComponents(loadConfig({ ...base, env: {} }))).toEqual([
      'kafka',
      'registry',
      'postgres',
      'mongo',
    ]);
    expect(stackComponents(loadConfig({ ...base, env: { TRIBUTARY_STORE_BACKEND: 'sqlite' } }))).toEqual([
      'kafka',
      'registry',
      'mongo',
    ]);
  });
});

describe('parsePort', () => {
  it('accepts 1..65535 and falls back when unset', () => {
    expect(parsePort('1', 'P', 5)).toBe(1);
    expect(parsePort('65535', 'P', 5)).toBe(65535);
    expect(parsePort(undefined, 'P', 5)).toBe(5);
  });

  it.each(['0', '65536', 'abc', '80.5', '-1', '0x50'])('rejects %p with the variable name', (raw) => {
    expect(() => parsePort(raw, 'TRIBUTARY_KAFKA_PORT', 9092)).toThrow(
      `TRIBUTARY_KAFKA_PORT must be a TCP port (1-65535), got '${raw}'`,
    );
  });
});

describe('stackEndpointsFor', () => {
  it('builds the URLs and the env the apps read from the configured ports', () => {
    const config = loadConfig({
      ...base,
      env: { TRIBUTARY_KAFKA_PORT: '29092', TRIBUTARY_REGISTRY_PORT: '28081', TRIBUTARY_MONGO_PORT: '27117' },
    });
    expect(stackEndpointsFor(config).env).toEqual({
      KAFKA_BROKERS: '127.0.0.1:29092',
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:28081/apis/ccompat/v7',
      MONGO_URL: 'mongodb://127.0.0.1:27117',
    });
  });

  it('defaults to the documented endpoints', () => {
    expect(stackEndpointsFor(loadConfig({ ...base, env: {} }))).toMatchObject({
      kafkaBrokers: '127.0.0.1:9092',
      schemaRegistryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
      mongoUrl: 'mongodb://127.0.0.1:27017',
    });
  });
});

describe('stackPaths', () => {
  it('keeps pid files in run/ and logs in logs/', () => {
    const paths = stackPaths(loadConfig({ ...base, env: { TRIBUTARY_STACK_DIR: '/tmp/s' } }));
    expect(paths.pidFile('kafka')).toBe('/tmp/s/run/kafka.pid');
    expect(paths.logFile('registry')).toBe('/tmp/s/logs/registry.log');
    expect(paths.postgresData).toBe('/tmp/s/data/postgres');
    expect(paths.postgresSocketDir).toBe('/tmp/s/run/postgres');
  });
});
