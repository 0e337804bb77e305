import { z } from 'zod';

/** Routing settings; merged into the service's config shape. */
export const routingConfigShape = {
  /** How often each replica looks for missed SLAs and queued leads (ms). Bounds how late a breach is noticed. */
  ROUTING_SWEEP_INTERVAL_MS: z.coerce.number().int().min(50).max(3_600_000).default(5_000),
  /**
   * How often a sweep also scans all assignments for due leads missing from its index (ms): the most a lead whose
   * index entry a half-failed write left out waits beyond its due time. Each scan reads the whole table.
   */
  ROUTING_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1_000).max(86_400_000).default(600_000),
  /** Per-replica cache of each workspace's routing rules = how long other replicas may route by the old ones. */
  ROUTING_RULES_CACHE_TTL_MS: z.coerce.number().int().min(0).max(3_600_000).default(5_000),
};

export type RoutingConfig = z.infer<z.ZodObject<typeof routingConfigShape>>;
