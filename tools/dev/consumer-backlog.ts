/**
 * How far the dev services' consumer groups are behind, and a way to skip that backlog. Tests publish to the same
 * topics as the dev services (in workspaces of their own), so after a test run `npm start` would first work through
 * every test's events, and the demo's leads would only show up minutes later.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';

/** One consumer group's backlog: records not yet consumed on each topic it holds positions on. */
export interface GroupBacklog {
  group: string;
  topics: { topic: string; behind: number }[];
  total: number;
}

async function withAdmin<T>(brokers: string, use: (admin: Admin) => Promise<T>): Promise<T> {
  const kafka = new Kafka({
    clientId: 'tributary-dev-start',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Backlog of each group on the topics it has committed positions on (other topics start at their end). */
export async function consumerBacklogs(brokers: string, groups: readonly string[]): Promise<GroupBacklog[]> {
  return withAdmin(brokers, async (admin) => {
    const backlogs: GroupBacklog[] = [];
    for (const group of groups) {
      const topics: GroupBacklog['topics'] = [];
      for (const committed of await admin.fetchOffsets({ groupId: group })) {
        const ends = await admin.fetchTopicOffsets(committed.topic);
        let behind = 0;
        for (const { partition, offset } of committed.partitions) {
          const end = ends.find((e) => e.partition === partition);
          if (end && Number(offset) >= 0) behind += Math.max(0, Number(end.high) - Number(offset));
        }
        if (behind > 0) topics.push({ topic: committed.topic, behind });
      }
      backlogs.push({ group, topics, total: topics.reduce((sum, t) => sum + t.behind, 0) });
    }
    return backlogs;
  });
}

/**
 * Moves each group to the end of every topic it holds positions on, so it consumes only what is published from now
 * on. Kafka refuses while a group has running members; such a group is returned and left as it was.
 */
export async function skipBacklogs(brokers: string, groups: readonly string[]): Promise<string[]> {
  return withAdmin(brokers, async (admin) => {
    const refused: string[] = [];
    for (const group of groups) {
      try {
        for (const { topic } of await admin.fetchOffsets({ groupId: group })) {
          const ends = await admin.fetchTopicOffsets(topic);
          await admin.setOffsets({
            groupId: group,
            topic,
            partitions: ends.map((end) => ({ partition: end.partition, offset: end.high })),
          });
        }
      } catch {
        refused.push(group);
      }
    }
    return refused;
  });
}
