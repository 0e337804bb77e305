import { Catalog, type TopicName } from '@tributary/contracts';

/**
 * The topics the catalog says reporting consumes: each has its handler in intake.handler.ts (intake.handler.spec
 * checks). A module of its own: the read models ask for it, and the handler imports the read models' intake.
 */
export function reportingTopics(): TopicName[] {
  return Object.values(Catalog)
    .filter((spec) => spec.consumers.includes('reporting'))
    .map((spec) => spec.name);
}
