import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Model } from 'mongoose';
import { TtlCache } from '@tributary/access';
import { isDuplicateKey } from '@tributary/store';
import type { RoutingRules } from './routing-rules';
import { ROUTING_RULES_MODEL, type RoutingRulesDoc } from './routing.model';

/** One stored version of a workspace's routing rules. */
export interface RoutingRulesVersion {
  workspaceId: string;
  version: number;
  rules: RoutingRules;
  createdAt: Date;
}

export const ROUTING_RULES_STORE_OPTIONS = Symbol('ROUTING_RULES_STORE_OPTIONS');

export interface RoutingRulesStoreOptions {
  /** How long a replica reuses a workspace's current rules before reading them again (0 = never cache). */
  cacheTtlMs: number;
  /** Clock for cache expiry (tests). */
  now?: () => number;
}

// Concurrent PUTs each take the next free version; this many collisions in a row means something is wrong.
const MAX_VERSION_ATTEMPTS = 16;
const MAX_CACHED_WORKSPACES = 1_000;

const headId = (workspaceId: string): string => `${workspaceId}:head`;
const versionId = (workspaceId: string, version: number): string => `${workspaceId}:${version}`;

const versionOf = (doc: RoutingRulesDoc): RoutingRulesVersion => ({
  workspaceId: doc.workspaceId,
  version: doc.version,
  rules: doc.rules,
  createdAt: doc.createdAt,
});

/**
 * Versioned routing rules per workspace, like a model registry: every PUT is a new immutable version
 * (`<ws>:<version>`, taken by an insert so two concurrent PUTs never share a number) and the head (`<ws>:head`)
 * carries a copy of the newest, so routing reads the current rules in one `_id` lookup. A workspace without rules
 * does not route: its leads stay `unrouted`.
 *
 * `current()` is cached per replica for `cacheTtlMs`, as scoring models are: every routed batch needs the rules, and
 * a replica that stored rules sees them at once, other replicas within that bound.
 */
@Injectable()
export class RoutingRulesStore {
  private readonly cache: TtlCache<RoutingRulesVersion>;

  constructor(
    @Inject(ROUTING_RULES_MODEL) private readonly docs: Model<RoutingRulesDoc>,
    @Optional() @Inject(ROUTING_RULES_STORE_OPTIONS) options?: RoutingRulesStoreOptions,
  ) {
    this.cache = new TtlCache(options?.cacheTtlMs ?? 0, MAX_CACHED_WORKSPACES, options?.now);
  }

  /** The rules in force, or null when the workspace never set any. */
  current(workspaceId: string): Promise<RoutingRulesVersion | null> {
    return this.cache.get(workspaceId, async () => {
      const head = await this.docs.findById(headId(workspaceId)).lean<RoutingRulesDoc>();
      return head ? versionOf(head) : null;
    });
  }

  /** A past (or the current) version. */
  async version(workspaceId: string, version: number): Promise<RoutingRulesVersion | null> {
    const doc = await this.docs.findById(versionId(workspaceId, version)).lean<RoutingRulesDoc>();
    return doc ? versionOf(doc) : null;
  }

  /** Stores validated rules as the next version and makes them current. */
  async put(workspaceId: string, rules: RoutingRules): Promise<RoutingRulesVersion> {
    const head = await this.docs.findById(headId(workspaceId), { version: 1 }).lean<RoutingRulesDoc>();
    let version = (head?.version ?? 0) + 1;
    const createdAt = new Date();
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.docs.create({
          _id: versionId(workspaceId, version),
          workspaceId,
          version,
          rules,
          createdAt,
        });
        break;
      } catch (error) {
        // Another PUT took this number (or a crashed one did, before moving the head): try the next.
        if (!isDuplicateKey(error) || attempt + 1 >= MAX_VERSION_ATTEMPTS) throw error;
        version += 1;
      }
    }
    try {
      // Only forward: a slower PUT with a lower version must not overwrite a newer head.
      await this.docs.updateOne(
        { _id: headId(workspaceId), version: { $lt: version } },
        { $set: { workspaceId, version, rules, createdAt } },
        { upsert: true },
      );
    } catch (error) {
      // The head is already at a newer version (the upsert collided with it): that version is current.
      if (!isDuplicateKey(error)) throw error;
    }
    this.cache.invalidate(workspaceId);
    return { workspaceId, version, rules, createdAt };
  }
}
