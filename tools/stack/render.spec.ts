import { loadConfig } from './config';
import {
  formatTable,
  lastLines,
  newKafkaClusterId,
  renderKafkaLog4j2,
  renderKafkaPom,
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
