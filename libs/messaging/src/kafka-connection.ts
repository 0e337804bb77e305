import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Admin, type ITopicConfig, type LogEntry } from 'kafkajs';
import type { Logger, ReadinessCheck } from '@tributary/observability';
import type { TopicSpec } from '@tributary/contracts';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** The service's kafkajs client, logging through the service logger. */
export function createKafka(clientId: string, brokers: string[], logger: Logger): Kafka {
  process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
  return new Kafka({
    clientId,
    brokers,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const { message, ...extra } = log;
        // Coordinator churn during start-up is expected and retried by kafkajs; keep it out of error logs.
        const benign =
          /coordinator (is loading|is not available)|not the correct coordinator|Topic creation errors/i.test(
            String(extra['error']),
          ) ||
          // We bound producer retries on purpose: the edge must answer 503 rather than hang while Kafka is down.
          /Limiting retries for the idempotent producer/.test(message);
        const lvl = benign ? 'debug' : (LEVELS[level] ?? 'info');
        logger[lvl]({ kafkajs: namespace, ...extra }, message);
      },
  });
}

function retentionConfig(retention: string): ITopicConfig['configEntries'] {
  if (retention === 'compact') return [{ name: 'cleanup.policy', value: 'compact' }];
  const match = /^(\d+)([dh])$/.exec(retention);
  if (!match) throw new Error(`unsupported retention "${retention}" (use Nd, Nh or compact)`);
  const ms = Number(match[1]) * (match[2] === 'd' ? 86_400_000 : 3_600_000);
  return [{ name: 'retention.ms', value: String(ms) }];
}

/**
 * Creates the catalog topics this service touches if they are missing (auto-create is off on our brokers, so
 * topics always get the catalog's partitions and retention). Idempotent and safe to race between replicas.
 */
export async function ensureTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
  replicationFactor: number,
  attempts = 10,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let missing: readonly TopicSpec[] = specs;
    try {
      // Inside the retry too: on a broker that has just started, kafkajs' listTopics can fail on metadata that is
      // not there yet ("Cannot destructure property 'topicMetadata'"), which stopped scoring under `npm start`.
      const existing = new Set(await admin.listTopics());
      missing = specs.filter((spec) => !existing.has(spec.name));
      if (missing.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((spec) => ({
            topic: spec.name,
            numPartitions: spec.partitions,
            replicationFactor,
            configEntries: retentionConfig(spec.retention),
          })),
        });
      }
      // Services starting together race to create the same topics; the loser sees "does not host this
      // topic-partition" until metadata settles, so success means every topic's metadata answers.
      await admin.fetchTopicMetadata({ topics: specs.map((spec) => spec.name) });
      return;
    } catch (error) {
      if (attempt >= attempts) {
        throw new Error(
          `could not create topics ${missing.map((spec) => spec.name).join(', ')}: ${String(error)}`,
        );
      }
      await sleep(200 * attempt);
    }
  }
}

/** Readiness of the broker: metadata round trip through the admin client. */
export function brokerReadiness(admin: Admin): ReadinessCheck {
  return {
    name: 'broker',
    async check() {
      await admin.describeCluster();
    },
  };
}
