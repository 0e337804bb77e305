import { Inject, Injectable } from '@nestjs/common';
import type { Admin } from 'kafkajs';
import { SERVICE_CONFIG, type ServiceConfig } from '@tributary/config';
import { KAFKA_ADMIN } from '@tributary/messaging';
import { platformConsumerGroups, topicLag, type ConsumerGroupTopics } from './integration-health';

export interface ConsumerLag {
  group: string;
  topic: string;
  /** Records written but not yet committed by the group; null when it committed nothing on the topic yet. */
  lag: number | null;
}

/** Answers are reused this long: a dashboard polling many workspaces' health costs one round of admin calls. */
const CACHE_MS = 2_000;

/**
 * How far behind the platform's consumer groups are, read from Kafka when asked: each group's committed offsets
 * against the topics' high watermarks. A group that does not exist yet has committed nothing (lag null); a topic not
 * created yet is left out.
 */
@Injectable()
export class ConsumerLagReader {
  private readonly groups: ConsumerGroupTopics[];
  private cached: { at: number; lags: Promise<ConsumerLag[]> } | undefined;

  constructor(
    @Inject(KAFKA_ADMIN) private readonly admin: Admin,
    @Inject(SERVICE_CONFIG) config: Pick<ServiceConfig, 'CONSUMER_GROUP' | 'SERVICE_NAME'>,
  ) {
    this.groups = platformConsumerGroups(config.CONSUMER_GROUP, config.SERVICE_NAME);
  }

  /** Every platform group's lag per topic it reads, by group then topic. */
  async current(now = Date.now()): Promise<ConsumerLag[]> {
    if (!this.cached || now - this.cached.at > CACHE_MS) {
      const lags = this.read();
      this.cached = { at: now, lags };
      // A failed read is not kept: the next caller asks Kafka again.
      lags.catch(() => {
        if (this.cached?.lags === lags) this.cached = undefined;
      });
    }
    return this.cached.lags;
  }

  private async read(): Promise<ConsumerLag[]> {
    const existing = new Set<string>(await this.admin.listTopics());
    const topics = [...new Set(this.groups.flatMap((group) => group.topics))].filter((t) => existing.has(t));
    const highs = new Map<string, Map<number, string>>(
      await Promise.all(
        topics.map(
          async (topic) =>
            [
              topic,
              new Map((await this.admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high])),
            ] as const,
        ),
      ),
    );
    const perGroup = await Promise.all(
      this.groups.map(async ({ group, topics: read }) => {
        const present = read.filter((topic) => highs.has(topic));
        const committed = await this.admin.fetchOffsets({ groupId: group, topics: present });
        return committed.map(({ topic, partitions }) => ({
          group,
          topic,
          lag: topicLag(
            partitions.map(({ partition, offset }) => ({
              partition,
              committed: offset,
              high: highs.get(topic)?.get(partition) ?? offset,
            })),
          ),
        }));
      }),
    );
    return perGroup.flat().sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic));
  }
}
