/**
 * The credential scopes orchestration's APIs honour. tools/services/services.json records the same (npm run
 * services:check compares the two), so ingestion's admin API can issue keys for them.
 */
export const OrchestrationScopes = {
  journeysAdmin: 'journeys:admin',
  journeysRead: 'journeys:read',
  /** Write and submit content items, comment, and schedule, publish or unpublish approved ones. */
  contentWrite: 'content:write',
  /** Read content items, their versions, comments and history. */
  contentRead: 'content:read',
  /** Approve or send back content in review (never one's own version), comment, schedule and publish it. */
  contentApprove: 'content:approve',
  /** Set where a workspace's content is published (CMS, social, newsletter credentials). */
  contentAdmin: 'content:admin',
} as const;
