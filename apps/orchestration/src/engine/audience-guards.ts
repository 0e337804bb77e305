import { Inject, Injectable } from '@nestjs/common';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Schema, type Model } from 'mongoose';
import { TtlCache } from '@tributary/access';
import { isDuplicateKey } from '@tributary/store';
import { SERVICE_CONFIG } from '@tributary/config';
import type { OrchestrationConfig } from '../config';
import {
  DEFAULT_MESSAGING_SETTINGS,
  messagingSettingsSchema,
  type Channel,
  type MessagingSettings,
} from './send-policy';
import { modelProvider } from './engine.models';

/**
 * What may reach a contact besides journeys' own logic, kept per workspace: its messaging settings (quiet hours,
 * caps), its suppression list (unsubscribes, bounces, spam reports, entries an admin made) and the sends each
 * contact got, which the caps count across every journey.
 */

interface SettingsDoc {
  _id: string;
  settings: MessagingSettings;
  updatedAt: Date;
  updatedBy: string | null;
}

/** `_id: <workspaceId>:<channel>:<address>`: an address (lower-case email, E.164 phone) nothing marketing goes to. */
export interface SuppressionDoc {
  _id: string;
  workspaceId: string;
  channel: Channel;
  address: string;
  /** unsubscribe, bounce, spamreport, admin, sms-stop. */
  reason: string;
  createdAt: Date;
}

/** The marketing sends of one contact on one channel, newest last; `version` guards concurrent reservations. */
interface ContactSendsDoc {
  _id: string;
  sends: { key: string; at: Date }[];
  version: number;
}

const settingsSchema = new Schema<SettingsDoc>(
  {
    _id: { type: String, required: true },
    settings: { type: Schema.Types.Mixed, required: true },
    updatedAt: { type: Date, required: true },
    updatedBy: { type: String, default: null },
  },
  { versionKey: false, collection: 'messaging_settings', minimize: false },
);

const suppressionSchema = new Schema<SuppressionDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    channel: { type: String, required: true },
    address: { type: String, required: true },
    reason: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'suppressions' },
);
suppressionSchema.index({ workspaceId: 1, channel: 1 });

const contactSendsSchema = new Schema<ContactSendsDoc>(
  {
    _id: { type: String, required: true },
    sends: { type: [{ key: String, at: Date, _id: false }], default: [] },
    version: { type: Number, required: true },
  },
  { versionKey: false, collection: 'contact_sends' },
);

export const MESSAGING_SETTINGS_MODEL = Symbol('MESSAGING_SETTINGS_MODEL');
export const SUPPRESSION_MODEL = Symbol('SUPPRESSION_MODEL');
export const CONTACT_SENDS_MODEL = Symbol('CONTACT_SENDS_MODEL');

export const audienceGuardModelProviders = [
  modelProvider(MESSAGING_SETTINGS_MODEL, 'MessagingSettings', settingsSchema),
  modelProvider(SUPPRESSION_MODEL, 'Suppression', suppressionSchema),
  modelProvider(CONTACT_SENDS_MODEL, 'ContactSends', contactSendsSchema),
];

/** An address as suppressions key it: emails lower-case, phones as given (E.164). */
export function normalAddress(channel: Channel, address: string): string {
  return channel === 'email' ? address.trim().toLowerCase() : address.trim();
}

@Injectable()
export class AudienceGuards {
  private readonly settingsCache: TtlCache<MessagingSettings>;

  constructor(
    @Inject(MESSAGING_SETTINGS_MODEL) private readonly settingsDocs: Model<SettingsDoc>,
    @Inject(SUPPRESSION_MODEL) private readonly suppressions: Model<SuppressionDoc>,
    @Inject(CONTACT_SENDS_MODEL) private readonly contactSends: Model<ContactSendsDoc>,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
  ) {
    this.settingsCache = new TtlCache<MessagingSettings>(config.JOURNEY_CACHE_TTL_MS);
  }

  /** A workspace's settings (defaults when it wrote none), cached like journeys. */
  async settings(workspaceId: string): Promise<MessagingSettings> {
    const settings = await this.settingsCache.get(workspaceId, async (id) => {
      const doc = await this.settingsDocs.findById(id).lean();
      return doc ? messagingSettingsSchema.parse(doc.settings) : null;
    });
    return settings ?? DEFAULT_MESSAGING_SETTINGS;
  }

  async writeSettings(
    workspaceId: string,
    settings: MessagingSettings,
    by?: string,
  ): Promise<MessagingSettings> {
    await this.settingsDocs.updateOne(
      { _id: workspaceId },
      { $set: { settings, updatedAt: new Date(), updatedBy: by ?? null } },
      { upsert: true },
    );
    this.settingsCache.invalidate(workspaceId);
    return settings;
  }

  async isSuppressed(workspaceId: string, channel: Channel, address: string): Promise<SuppressionDoc | null> {
    return this.suppressions.findById(`${workspaceId}:${channel}:${normalAddress(channel, address)}`).lean();
  }

  /** The suppressions among these ids (`<ws>:<channel>:<address>`), in one read. */
  async suppressionsAmong(ids: readonly string[]): Promise<Map<string, SuppressionDoc>> {
    if (ids.length === 0) return new Map();
    const found = await this.suppressions.find({ _id: { $in: [...new Set(ids)] } }).lean();
    return new Map(found.map((doc) => [doc._id, doc]));
  }

  /** Records a suppression once; the first reason stays (an unsubscribe then a bounce is still an unsubscribe). */
  async suppress(
    workspaceId: string,
    channel: Channel,
    address: string,
    reason: string,
  ): Promise<SuppressionDoc> {
    const normal = normalAddress(channel, address);
    const doc: SuppressionDoc = {
      _id: `${workspaceId}:${channel}:${normal}`,
      workspaceId,
      channel,
      address: normal,
      reason,
      createdAt: new Date(),
    };
    await this.suppressions.updateOne({ _id: doc._id }, { $setOnInsert: doc }, { upsert: true });
    return (await this.suppressions.findById(doc._id).lean()) ?? doc;
  }

  async unsuppress(workspaceId: string, channel: Channel, address: string): Promise<boolean> {
    const result = await this.suppressions.deleteOne({
      _id: `${workspaceId}:${channel}:${normalAddress(channel, address)}`,
    });
    return result.deletedCount > 0;
  }

  async listSuppressions(workspaceId: string, channel?: Channel): Promise<SuppressionDoc[]> {
    return this.suppressions
      .find({ workspaceId, ...(channel ? { channel } : {}) })
      .sort({ createdAt: -1 })
      .limit(1_000)
      .lean();
  }

  /**
   * Takes one of the contact's `limit` sends since `windowStart` for message `key`: true when it fits (or `key`
   * holds one already: a rerun), false when the cap is reached. Optimistic on a version, so ten journeys reaching
   * one contact at once on two replicas still stop at the cap.
   */
  async reserveSend(
    contactKey: string,
    key: string,
    limit: number,
    windowStart: Date,
    now = new Date(),
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const doc = await this.contactSends.findById(contactKey).lean();
      const recent = (doc?.sends ?? []).filter((s) => new Date(s.at) >= windowStart);
      if (recent.some((s) => s.key === key)) return true;
      if (recent.length >= limit) return false;
      // Older sends are dropped as the list is rewritten: it never holds more than a window's worth.
      const sends = [...recent, { key, at: now }];
      try {
        if (!doc) {
          await this.contactSends.create({ _id: contactKey, sends, version: 1 });
          return true;
        }
        const result = await this.contactSends.updateOne(
          { _id: contactKey, version: doc.version },
          { $set: { sends, version: doc.version + 1 } },
        );
        if (result.matchedCount === 1) return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      // Another reservation landed between the read and the write: read again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
    }
    throw new Error(`frequency cap of ${contactKey}: too much contention`);
  }

  /** Gives back a reservation whose message was never sent (refused by the provider). */
  async releaseSend(contactKey: string, key: string): Promise<void> {
    await this.contactSends.updateOne(
      { _id: contactKey },
      { $pull: { sends: { key } }, $inc: { version: 1 } },
    );
  }

  /** A token for a one-click unsubscribe link: who, where, signed, so the link needs no login and cannot be forged. */
  unsubscribeToken(workspaceId: string, channel: Channel, address: string): string {
    const payload = Buffer.from(
      JSON.stringify([workspaceId, channel, normalAddress(channel, address)]),
    ).toString('base64url');
    return `${payload}.${this.sign(payload)}`;
  }

  /** The token's workspace, channel and address; null when it was not signed here. */
  readUnsubscribeToken(token: string): { workspaceId: string; channel: Channel; address: string } | null {
    const [payload, signature] = token.split('.');
    if (!payload || !signature) return null;
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    try {
      const [workspaceId, channel, address] = JSON.parse(
        Buffer.from(payload, 'base64url').toString(),
      ) as string[];
      if (!workspaceId || (channel !== 'email' && channel !== 'sms') || !address) return null;
      return { workspaceId, channel, address };
    } catch {
      return null;
    }
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.config.UNSUBSCRIBE_SECRET).update(payload).digest('base64url');
  }
}
