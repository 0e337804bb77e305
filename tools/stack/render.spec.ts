import { loadConfig } from './config';
import {
  ferretPostgresUrl,
  formatTable,
  lastLines,
  newKafkaClusterId,
  renderKafkaLog4j2,
  renderKafkaPom,
  renderFerretArgs,
  renderInitdbArgs,
  renderPostgresArgs,
  renderServerProperties,
} from './render';

function parseProperties(text: string): Record<string, string> {
  const entries = text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

const configWith = (env: NodeJS.ProcessEnv) =>
  loadConfig({ env, cwd: '/r', home: '/home/dev', repoRoot: '/r' });

describe('renderServerProperties', () => {
  it('renders a single-node KRaft broker+controller on the configured loopback ports', () => {
    const config = configWith({ TRIBUTARY_KAFKA_PORT: '29092', TRIBUTARY_KAFKA_CONTROLLER_PORT: '29093' });
    const props = parseProperties(renderServerProperties(config, '/tmp/stack/data/kafka'));
    expect(props).toMatchObject({
      'process.roles': 'broker,controller',
      'node.id': '1',
      'controller.quorum.voters': '1@127.0.0.1:29093',
      listeners: 'PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093',
      'advertised.listeners': 'PLAINTEXT://127.0.0.1:29092',
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'log.dirs': '/tmp/stack/data/kafka',
      'offsets.topic.replication.factor': '1',
      'transaction.state.log.replication.factor': '1',
      'transaction.state.log.min.isr': '1',
      'share.coordinator.state.topic.replication.factor': '1',
      'group.initial.rebalance.delay.ms': '0',
      'auto.create.topics.enable': 'false',
    });
  });

  it('uses the default ports without overrides', () => {
    const props = parseProperties(renderServerProperties(configWith({}), '/d'));
    expect(props['listeners']).toBe('PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093');
  });

  it('escapes backslashes in paths (Java properties syntax)', () => {
    const text = renderServerProperties(configWith({}), 'C:\\stack\\kafka');
    expect(text).toContain('log.dirs=C:\\\\stack\\\\kafka\n');
  });
});

describe('renderKafkaLog4j2', () => {
  it('logs to stdout at INFO, overridable through a system property', () => {
    const text = renderKafkaLog4j2();
    expect(text).toContain('appender.stdout.type = Console');
    expect(text).toContain('rootLogger.level = ${sys:tributary.log.level:-INFO}');
    expect(text).toContain('rootLogger.appenderRef.stdout.ref = STDOUT');
  });
});

describe('renderKafkaPom', () => {
  it('pulls Kafka, its storage/tools jars and the slf4j -> log4j2 binding, not reload4j', () => {
    const pom = renderKafkaPom();
    expect(pom).toContain('<artifactId>kafka_2.13</artifactId><version>4.1.1</version>');
    expect(pom).toContain('<artifactId>kafka-storage</artifactId>');
    expect(pom).toContain('<artifactId>kafka-tools</artifactId>');
    expect(pom).toContain('<artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version>');
    expect(pom).not.toContain('reload4j');
  });
});

describe('newKafkaClusterId', () => {
  it('is 16 bytes in unpadded base64url (22 chars), like kafka-storage random-uuid', () => {
    expect(newKafkaClusterId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('never starts with a dash', () => {
    const draws = [Buffer.from([0xf8, ...new Array<number>(15).fill(0)]), Buffer.alloc(16, 1)];
    const id = newKafkaClusterId(() => draws.shift() ?? Buffer.alloc(16, 2));
    expect(id.startsWith('-')).toBe(false);
    expect(draws).toHaveLength(0);
  });
});

describe('formatTable', () => {
  it('pads all but the last column to the widest cell', () => {
    expect(
      formatTable(
        ['A', 'BB', 'C'],
        [
          ['kafka', 'up', 'x'],
          ['r', 'unhealthy', 'y'],
        ],
      ),
    ).toBe(['A      BB         C', 'kafka  up         x', 'r      unhealthy  y'].join('\n'));
  });
});

describe('lastLines', () => {
  it('ignores the trailing newline and handles short texts', () => {
    expect(lastLines('a\nb\nc\n', 2)).toEqual(['b', 'c']);
    expect(lastLines('a\nb', 5)).toEqual(['a', 'b']);
    expect(lastLines('a\n', 0)).toEqual([]);
  });
});

/** `-c key=value` pairs of a postgres command line, as a map. */
function settingsOf(args: readonly string[]): Record<string, string> {
  const settings: Record<string, string> = {};
  args.forEach((arg, i) => {
    if (arg !== '-c') return;
    const [key, ...value] = (args[i + 1] ?? '').split('=');
    if (key) settings[key] = value.join('=');
  });
  return settings;
}

describe('renderPostgresArgs', () => {
  const args = renderPostgresArgs(
    configWith({ TRIBUTARY_POSTGRES_PORT: '15432' }),
    '/s/data/postgres',
    '/s/run/postgres',
  );

  it('serves the data dir on loopback at the configured port, with its own socket dir', () => {
    expect(args.slice(0, 2)).toEqual(['-D', '/s/data/postgres']);
    expect(settingsOf(args)).toMatchObject({
      listen_addresses: '127.0.0.1',
      port: '15432',
      unix_socket_directories: '/s/run/postgres',
      cluster_name: 'tributary',
    });
  });

  it('trades the last commits, never consistency, for speed: no setting that can corrupt data on a crash', () => {
    const settings = settingsOf(args);
    expect(settings['synchronous_commit']).toBe('off');
    expect(settings).not.toHaveProperty('fsync');
    expect(settings).not.toHaveProperty('full_page_writes');
    expect(settings['max_parallel_workers_per_gather']).toBe('0');
  });

  it('passes every value as one argument, so paths with spaces stay whole', () => {
    const spaced = renderPostgresArgs(configWith({}), '/my stack/data', '/my stack/run');
    expect(spaced).toContain('unix_socket_directories=/my stack/run');
    expect(settingsOf(spaced)['port']).toBe('5432');
  });
});

describe('renderInitdbArgs', () => {
  it('creates the postgres superuser with trust auth, UTF-8 and the C locale', () => {
    expect(renderInitdbArgs('/s/data/postgres.partial')).toEqual([
      '-D',
      '/s/data/postgres.partial',
      '--username=postgres',
      '--auth-local=trust',
      '--auth-host=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ]);
  });
});

describe('renderFerretArgs', () => {
  it("points FerretDB at the stack's PostgreSQL by default", () => {
    const config = configWith({ TRIBUTARY_POSTGRES_PORT: '15432', TRIBUTARY_MONGO_PORT: '27117' });
    expect(ferretPostgresUrl(config)).toBe('postgres://postgres@127.0.0.1:15432/ferretdb');
    expect(renderFerretArgs(config)).toEqual([
      '--handler=postgresql',
      '--postgresql-url=postgres://postgres@127.0.0.1:15432/ferretdb',
      '--state-dir=/r/.stack/data/ferretdb-state',
      '--listen-addr=127.0.0.1:27117',
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
    ]);
  });

  it('keeps the SQLite files (synchronous=normal) with TRIBUTARY_STORE_BACKEND=sqlite', () => {
    const args = renderFerretArgs(configWith({ TRIBUTARY_STORE_BACKEND: 'sqlite' }));
    expect(args.slice(0, 2)).toEqual([
      '--handler=sqlite',
      '--sqlite-url=file:/r/.stack/data/ferretdb/?_pragma=synchronous(normal)',
    ]);
    expect(args).toContain('--state-dir=/r/.stack/data/ferretdb-state');
    expect(args.join(' ')).not.toContain('postgres');
  });
});
