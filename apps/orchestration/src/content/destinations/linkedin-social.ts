import { isAxiosError } from 'axios';
import type { RestliClient } from 'linkedin-api-client';
import { linkedInClientFor } from '@tributary/sandbox';
import type { DestinationOutcome } from '../content-workflow';
import { failedCall, retryCalls, type CallPolicy } from './destination-http';

/** A workspace's LinkedIn page (or member) and the OAuth token it posts with. */
export interface SocialSettings {
  /** https://api.linkedin.com, or a sandbox. */
  baseUrl: string;
  accessToken: string;
  /** `urn:li:organization:<id>` or `urn:li:person:<id>`. */
  author: string;
  /** The `LinkedIn-Version` (YYYYMM) the calls name. */
  apiVersion: string;
}

/** A post as LinkedIn takes it: text, and optionally a link shared as an article. */
export interface SocialPost {
  commentary: string;
  article: { source: string; title: string } | null;
}

/** LinkedIn's `little text` escapes: reserved characters in commentary must be backslash-escaped. */
export function littleText(text: string): string {
  return text.replace(/[\\|{}@[\]()<>#*_~]/g, (c) => `\\${c}`);
}

/** LinkedIn's error body: `{ status, serviceErrorCode, code, message }`. */
function describe(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { code, message } = body as { code?: unknown; message?: unknown };
  return (
    [typeof code === 'string' ? code : '', typeof message === 'string' ? message : '']
      .filter(Boolean)
      .join(' ') || undefined
  );
}

/**
 * LinkedIn's Posts API through its official client (`linkedin-api-client`, axios underneath, with axios-retry on its
 * instance). LinkedIn has no idempotency key for posts: a create is retried after 429 and 5xx, and a 5xx that came
 * after LinkedIn stored the post can leave a second one, as with any client of this API.
 */
export class LinkedInSocial {
  private readonly client: RestliClient;

  constructor(
    private readonly settings: SocialSettings,
    policy: CallPolicy,
  ) {
    this.client = linkedInClientFor(settings.baseUrl, { timeout: policy.timeoutMs });
    retryCalls(this.client.axiosInstance, policy);
  }

  async publish(post: SocialPost): Promise<DestinationOutcome> {
    try {
      const response = await this.client.create({
        resourcePath: '/posts',
        entity: {
          author: this.settings.author,
          commentary: littleText(post.commentary),
          visibility: 'PUBLIC',
          distribution: {
            feedDistribution: 'MAIN_FEED',
            targetEntities: [],
            thirdPartyDistributionChannels: [],
          },
          lifecycleState: 'PUBLISHED',
          isReshareDisabledByAuthor: false,
          ...(post.article ? { content: { article: post.article } } : {}),
        },
        versionString: this.settings.apiVersion,
        accessToken: this.settings.accessToken,
      });
      const urn = response.createdEntityId as string | undefined;
      if (!urn)
        return { ok: false, retryable: false, reason: 'linkedin: the create answered without a post URN' };
      return { ok: true, remoteId: urn, remoteUrl: `https://www.linkedin.com/feed/update/${urn}/` };
    } catch (error) {
      return failedCall(error, 'linkedin', describe);
    }
  }

  /** Deletes the post; one that is gone already counts as removed. */
  async remove(urn: string): Promise<DestinationOutcome> {
    try {
      await this.client.delete({
        resourcePath: '/posts/{id}',
        pathKeys: { id: urn },
        versionString: this.settings.apiVersion,
        accessToken: this.settings.accessToken,
      });
      return { ok: true, remoteId: urn, remoteUrl: null, note: 'deleted on LinkedIn' };
    } catch (error) {
      if (isAxiosError(error) && error.response?.status === 404)
        return { ok: true, remoteId: urn, remoteUrl: null, note: 'already gone' };
      return failedCall(error, 'linkedin', describe);
    }
  }
}
