import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Model } from 'mongoose';
import { z } from 'zod';
import { SERVICE_CONFIG } from '@tributary/config';
import { SecretBox } from '@tributary/access';
import type { FieldProblem } from '@tributary/runtime';
import { fieldProblemsOf } from '@tributary/runtime';
import type { OrchestrationConfig } from '../config';
import type { DestinationName } from './content-workflow';
import {
  CONTENT_AUDIT_MODEL,
  DESTINATION_SETTINGS_MODEL,
  type ContentAuditDoc,
  type DestinationSettingsDoc,
} from './content.models';
import type { NewsletterSettings } from './destinations/newsletter-sender';
import type { SocialSettings } from './destinations/linkedin-social';
import type { WordPressSettings } from './destinations/wordpress-cms';

/** What a read shows instead of a secret: that one is stored, never any part of it. */
export const MASKED = '********';

const httpUrl = z
  .string()
  .trim()
  .url()
  .refine((url) => /^https?:\/\//i.test(url), 'must be an http(s) URL')
  .transform((url) => url.replace(/\/+$/, ''));

const cmsSchema = z
  .object({
    baseUrl: httpUrl,
    username: z.string().trim().min(1).max(60),
    /** WordPress application password (Users → Profile → Application Passwords); kept when omitted on a rewrite. */
    applicationPassword: z.string().trim().min(1).max(200).optional(),
  })
  .strict();

const socialSchema = z
  .object({
    baseUrl: httpUrl.default('https://api.linkedin.com'),
    author: z
      .string()
      .regex(
        /^urn:li:(person|organization):[A-Za-z0-9_-]+$/,
        'must be urn:li:organization:<id> or urn:li:person:<id>',
      ),
    /** OAuth access token with w_organization_social (or w_member_social); kept when omitted on a rewrite. */
    accessToken: z.string().trim().min(1).max(4_000).optional(),
    apiVersion: z
      .string()
      .regex(/^\d{6}(\.\d{2})?$/, 'must be a LinkedIn-Version, YYYYMM')
      .default('202505'),
  })
  .strict();

function newsletterSchema(maxRecipients: number) {
  return z
    .object({
      from: z.string().trim().email(),
      fromName: z.string().trim().min(1).max(100).optional(),
      audience: z.enum(['recipients', 'consented_contacts']),
      recipients: z.array(z.string().trim().email()).max(maxRecipients).optional(),
    })
    .strict()
    .superRefine((value, ctx) => {
      if (value.audience === 'recipients' && (value.recipients?.length ?? 0) === 0)
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['recipients'],
          message: 'required (at least one address) when audience is recipients',
        });
      if (value.audience === 'consented_contacts' && value.recipients !== undefined)
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['recipients'],
          message: 'only with audience recipients',
        });
    });
}

const SECRET_FIELDS: Record<DestinationName, readonly string[]> = {
  cms: ['applicationPassword'],
  social: ['accessToken'],
  newsletter: [],
};

/** Every destination's settings of a workspace, secrets opened: what the publisher calls with. */
export interface ResolvedDestinations {
  cms?: WordPressSettings;
  social?: SocialSettings;
  newsletter?: NewsletterSettings;
}

/** A destination's settings as reads show them: secrets masked. */
export interface DestinationSettingsView {
  destination: DestinationName;
  settings: Record<string, unknown>;
  updatedAt: Date;
  updatedBy: string;
}

export type SettingsWrite =
  { ok: true; view: DestinationSettingsView } | { ok: false; errors: FieldProblem[] };

/**
 * Where a workspace's content is published: a WordPress site (`cms`), a LinkedIn page (`social`) and the
 * newsletter's sender and audience. Secrets are sealed at rest, never returned (reads mask them) and never logged;
 * a rewrite that omits a secret keeps the stored one. Every change is in the audit trail, without values.
 */
@Injectable()
export class DestinationSettings {
  private readonly box: SecretBox;

  constructor(
    @Inject(DESTINATION_SETTINGS_MODEL) private readonly docs: Model<DestinationSettingsDoc>,
    @Inject(CONTENT_AUDIT_MODEL) private readonly audits: Model<ContentAuditDoc>,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
  ) {
    // Sealed as `v1` under a key derived for content destinations (the values stored so far open unchanged).
    this.box = new SecretBox(config.CONTENT_SECRETS_KEY, 'content-destinations');
  }

  async write(
    workspaceId: string,
    destination: DestinationName,
    body: unknown,
    actor: string,
    requestId: string,
  ): Promise<SettingsWrite> {
    const schema =
      destination === 'cms'
        ? cmsSchema
        : destination === 'social'
          ? socialSchema
          : newsletterSchema(this.config.CONTENT_NEWSLETTER_MAX_RECIPIENTS);
    const parsed = schema.safeParse(body ?? {});
    if (!parsed.success) return { ok: false, errors: fieldProblemsOf(parsed.error, 'must be a JSON object') };
    const values = parsed.data as Record<string, unknown>;
    const id = `${workspaceId}:${destination}`;
    const stored = await this.docs.findById(id).lean();
    const sealed: Record<string, string> = {};
    const errors: FieldProblem[] = [];
    for (const field of SECRET_FIELDS[destination]) {
      const given = values[field];
      delete values[field];
      if (typeof given === 'string') sealed[field] = this.box.seal(given, `${id}:${field}`);
      else if (stored?.sealed[field]) sealed[field] = stored.sealed[field];
      else errors.push({ field, reason: 'required (it is kept when omitted on a later rewrite)' });
    }
    if (errors.length > 0) return { ok: false, errors };
    const updatedAt = new Date();
    await this.docs.updateOne(
      { _id: id },
      { $set: { workspaceId, destination, settings: values, sealed, updatedAt, updatedBy: actor } },
      { upsert: true },
    );
    const eventId = randomUUID();
    await this.audits.create({
      _id: eventId,
      workspaceId,
      contentId: `destination:${destination}`,
      at: updatedAt,
      metadata: {
        eventId,
        occurredAt: updatedAt.getTime(),
        workspaceId,
        source: 'orchestration',
        correlationId: requestId,
        causationId: null,
      },
      action: 'content_destination.updated',
      actorCredentialId: actor,
      actorWorkspaceId: workspaceId,
      targetType: 'content_destination',
      targetId: destination,
      outcome: 'success',
      reason: null,
      requestId,
      // Which fields were written, never their values.
      detailsJson: JSON.stringify({ fields: [...Object.keys(values), ...Object.keys(sealed)].sort() }),
    });
    return {
      ok: true,
      view: this.view({
        _id: id,
        workspaceId,
        destination,
        settings: values,
        sealed,
        updatedAt,
        updatedBy: actor,
      }),
    };
  }

  async list(workspaceId: string): Promise<DestinationSettingsView[]> {
    const docs = await this.docs.find({ workspaceId }).lean();
    return docs.map((doc) => this.view(doc)).sort((a, b) => a.destination.localeCompare(b.destination));
  }

  /** The destinations the workspace has settings for. */
  async configured(workspaceId: string): Promise<Set<DestinationName>> {
    const docs = await this.docs.find({ workspaceId }, { destination: 1 }).lean();
    return new Set(docs.map((d) => d.destination));
  }

  /** Every destination's settings with secrets opened, for the publisher only. */
  async resolve(workspaceId: string): Promise<ResolvedDestinations> {
    const resolved: ResolvedDestinations = {};
    for (const doc of await this.docs.find({ workspaceId }).lean()) {
      const secrets = Object.fromEntries(
        Object.entries(doc.sealed).map(([field, value]) => [
          field,
          this.box.open(value, `${doc._id}:${field}`),
        ]),
      );
      const settings = { ...doc.settings, ...secrets };
      if (doc.destination === 'cms') resolved.cms = settings as unknown as WordPressSettings;
      else if (doc.destination === 'social') resolved.social = settings as unknown as SocialSettings;
      else resolved.newsletter = settings as unknown as NewsletterSettings;
    }
    return resolved;
  }

  private view(doc: DestinationSettingsDoc): DestinationSettingsView {
    return {
      destination: doc.destination,
      settings: {
        ...doc.settings,
        ...Object.fromEntries(Object.keys(doc.sealed).map((field) => [field, MASKED])),
      },
      updatedAt: doc.updatedAt,
      updatedBy: doc.updatedBy,
    };
  }
}
