import axios, { isAxiosError, type AxiosInstance } from 'axios';
import type { DestinationOutcome } from '../content-workflow';
import { failedCall, isUnprocessed, retryCalls, retryOnly, type CallPolicy } from './destination-http';

/** A workspace's WordPress site and the user it publishes as (an application password, never the login one). */
export interface WordPressSettings {
  baseUrl: string;
  username: string;
  applicationPassword: string;
}

/** What goes to WordPress: a post or a page, published. */
export interface WordPressDocument {
  type: 'post' | 'page';
  /** Stable per item and version: how a create whose answer was lost is found again. */
  slug: string;
  title: string;
  content: string;
  excerpt: string | null;
}

interface WordPressPost {
  id: number;
  link?: string;
  status?: string;
}

/** WordPress's error body: `{ code, message, data: { status, params } }`. */
function describe(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { code, message, data } = body as { code?: unknown; message?: unknown; data?: { params?: unknown } };
  const params =
    data && typeof data.params === 'object' && data.params !== null
      ? Object.entries(data.params as Record<string, unknown>)
          .map(([field, why]) => `${field}: ${String(why)}`)
          .join('; ')
      : '';
  const text = [typeof code === 'string' ? code : '', typeof message === 'string' ? message : '', params]
    .filter(Boolean)
    .join(' ');
  return text || undefined;
}

const statusOf = (error: unknown): number | undefined =>
  isAxiosError(error) ? error.response?.status : undefined;

/**
 * The WordPress REST API (`/wp-json/wp/v2/posts`, `/pages`) with an application password over HTTP Basic, through
 * axios with axios-retry. A create is repeated inside the call only when WordPress did not process it (429, no
 * connection); after a 5xx or a lost answer the next round first looks the slug up, so a post WordPress did store is
 * updated, not created twice. Removing moves the post to WordPress's trash.
 */
export class WordPressCms {
  private readonly http: AxiosInstance;

  constructor(
    settings: WordPressSettings,
    private readonly policy: CallPolicy,
  ) {
    this.http = axios.create({
      baseURL: `${settings.baseUrl.replace(/\/+$/, '')}/wp-json/wp/v2`,
      timeout: policy.timeoutMs,
      auth: { username: settings.username, password: settings.applicationPassword },
      headers: { accept: 'application/json' },
    });
    retryCalls(this.http, policy);
  }

  /**
   * Publishes `doc`: updates the post at `remoteId` when there is one (a republish, or a retry after WordPress took
   * the create), else looks for an earlier attempt's post by slug when `mayExist`, else creates it.
   */
  async publish(
    doc: WordPressDocument,
    remoteId: string | null,
    mayExist: boolean,
  ): Promise<DestinationOutcome> {
    const collection = doc.type === 'page' ? '/pages' : '/posts';
    const fields = {
      title: doc.title,
      content: doc.content,
      ...(doc.excerpt ? { excerpt: doc.excerpt } : {}),
      status: 'publish',
      slug: doc.slug,
    };
    try {
      let id = remoteId;
      if (id === null && mayExist) id = await this.findBySlug(collection, doc.slug);
      if (id !== null) {
        try {
          const { data } = await this.http.post<WordPressPost>(`${collection}/${id}`, fields);
          return { ok: true, remoteId: String(data.id), remoteUrl: data.link ?? null };
        } catch (error) {
          // Deleted for good on the site: publish it afresh.
          if (statusOf(error) !== 404) throw error;
        }
      }
      const { data } = await this.http.post<WordPressPost>(
        collection,
        fields,
        retryOnly(this.policy, isUnprocessed),
      );
      return { ok: true, remoteId: String(data.id), remoteUrl: data.link ?? null };
    } catch (error) {
      return failedCall(error, 'wordpress', describe);
    }
  }

  /** Moves the post to the trash; one that is gone or trashed already counts as removed. */
  async remove(type: 'post' | 'page', remoteId: string): Promise<DestinationOutcome> {
    const collection = type === 'page' ? '/pages' : '/posts';
    try {
      await this.http.delete(`${collection}/${remoteId}`);
      return { ok: true, remoteId, remoteUrl: null, note: 'moved to the WordPress trash' };
    } catch (error) {
      const status = statusOf(error);
      if (status === 404 || status === 410)
        return { ok: true, remoteId, remoteUrl: null, note: 'already gone' };
      return failedCall(error, 'wordpress', describe);
    }
  }

  /** The id of the post (any status but trash) with this slug, if there is one. */
  private async findBySlug(collection: string, slug: string): Promise<string | null> {
    const { data } = await this.http.get<WordPressPost[]>(collection, {
      params: { slug, status: 'any', context: 'edit', per_page: 1 },
    });
    const [found] = data;
    return found ? String(found.id) : null;
  }
}
