import axios, { isAxiosError, type AxiosError, type AxiosInstance } from 'axios';
import axiosRetry, { exponentialDelay, retryAfter } from 'axios-retry';
import type { Logger } from '@tributary/observability';
import type { HashedMember } from './audience-identifiers';
import { retryAfterMs } from './email-provider';

export type AudienceAction = 'add' | 'remove';

/** One contact's membership change, as a journey step asks for it. */
export interface AudienceChange {
  /** The workspace's ad account. */
  account: string;
  audience: string;
  action: AudienceAction;
  member: HashedMember;
}

/** What became of a change: uploaded (in the platform's request), or refused and whether trying again may help. */
export type AudienceResult =
  | { ok: true; requestId: string | null }
  | { ok: false; retryable: boolean; retryAfterMs?: number; reason: string };

/** An ad platform's audiences: a change is queued and uploaded with others of its audience. */
export interface AdAudiences {
  readonly name: string;
  /** Resolves once the upload carrying this change was answered; never rejects. */
  submit(change: AudienceChange): Promise<AudienceResult>;
}

/** Without credentials nothing can be uploaded: every audience step records why instead. */
export class UnconfiguredAudiences implements AdAudiences {
  readonly name = 'none';
  submit(): Promise<AudienceResult> {
    return Promise.resolve({ ok: false, retryable: false, reason: 'audience-provider-not-configured' });
  }
}

export interface CustomerMatchOptions {
  baseUrl: string;
  clientId: string;
  /** Sent only to the token endpoint; kept out of logs and reasons. */
  clientSecret: string;
  /** One request's timeout. */
  timeoutMs: number;
  /** How long a change waits for others of its audience. */
  batchWindowMs: number;
  /** Members in one upload at most; a full batch goes at once. */
  maxBatchMembers: number;
  /** Time an upload may spend on retries (429, 5xx) before its changes are handed back as retryable. */
  maxRetryMs: number;
  logger?: Logger;
}

interface Waiting {
  member: HashedMember;
  resolve: (result: AudienceResult) => void;
}

interface Batch {
  account: string;
  audience: string;
  action: AudienceAction;
  waiting: Waiting[];
  timer: NodeJS.Timeout;
}

interface PlatformError {
  error?: {
    message?: string;
    details?: { fieldViolations?: { field?: string; description?: string }[] }[];
  };
}

/** axios-retry's exponential backoff: 2^n × this (200, 400, 800 … ms) plus up to 20 % jitter. */
const BACKOFF_BASE_MS = 100;
/** A token this close to its expiry is replaced before use. */
const TOKEN_MARGIN_MS = 60_000;
const MEMBER_FIELD = /^members\[(\d+)\]/;

/** 429, 408, 5xx, timeouts and network errors may pass; anything else will not. */
function isTransient(error: AxiosError): boolean {
  const status = error.response?.status;
  if (status === undefined) return error.code !== 'ERR_CANCELED';
  return status === 408 || status === 429 || status >= 500;
}

function memberKey(member: HashedMember): string {
  return JSON.stringify([member.hashedEmail ?? null, member.hashedPhoneNumber ?? null]);
}

/**
 * A Customer-Match-style audience API over HTTP (axios, retries by axios-retry honouring Retry-After): OAuth 2.0
 * client-credentials tokens, kept until shortly before they expire and replaced once on a 401, and member uploads
 * batched per audience and action, for `batchWindowMs` or `maxBatchMembers`, whichever comes first, per replica.
 * Members only ever leave hashed; adding consents is stated as granted because the step checked the contact's.
 */
export class CustomerMatchAudiences implements AdAudiences {
  readonly name = 'ad-audiences';
  private readonly http: AxiosInstance;
  private readonly batches = new Map<string, Batch>();
  private token: { value: string; expiresAt: number } | undefined;
  private tokenRequest: Promise<string> | undefined;

  constructor(private readonly options: CustomerMatchOptions) {
    this.http = axios.create({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      timeout: options.timeoutMs,
      headers: { accept: 'application/json' },
    });
    axiosRetry(this.http, { retries: 8, shouldResetTimeout: true });
  }

  submit(change: AudienceChange): Promise<AudienceResult> {
    return new Promise((resolve) => {
      const key = JSON.stringify([change.account, change.audience, change.action]);
      let batch = this.batches.get(key);
      if (!batch) {
        const created: Batch = {
          account: change.account,
          audience: change.audience,
          action: change.action,
          waiting: [],
          timer: setTimeout(() => this.flush(key, created), this.options.batchWindowMs),
        };
        this.batches.set(key, created);
        batch = created;
      }
      batch.waiting.push({ member: change.member, resolve });
      if (batch.waiting.length >= this.options.maxBatchMembers) this.flush(key, batch);
    });
  }

  private flush(key: string, batch: Batch): void {
    clearTimeout(batch.timer);
    if (this.batches.get(key) === batch) this.batches.delete(key);
    void this.upload(batch).then((results) =>
      batch.waiting.forEach((w, i) => w.resolve(results[i] as AudienceResult)),
    );
  }

  /** One upload of a batch's members (each distinct member once); a result per waiting change. */
  private async upload(batch: Batch): Promise<AudienceResult[]> {
    const distinct = new Map<string, HashedMember>();
    for (const w of batch.waiting) distinct.set(memberKey(w.member), w.member);
    const members = [...distinct.values()];
    const positions = new Map([...distinct.keys()].map((k, i) => [k, i]));
    const path = `/v1/accounts/${encodeURIComponent(batch.account)}/audiences/${encodeURIComponent(batch.audience)}/members:${batch.action}`;
    const body = {
      members,
      ...(batch.action === 'add' ? { consent: { adUserData: 'GRANTED', adPersonalization: 'GRANTED' } } : {}),
    };
    const all = (result: AudienceResult): AudienceResult[] => batch.waiting.map(() => result);
    try {
      const answer = await this.post(path, body);
      const requestId = typeof answer['requestId'] === 'string' ? answer['requestId'] : null;
      return all({ ok: true, requestId });
    } catch (error) {
      if (!isAxiosError(error))
        return all({ ok: false, retryable: true, reason: `no-answer: ${String(error)}` });
      const status = error.response?.status;
      const platform = (error.response?.data ?? {}) as PlatformError;
      const message = platform.error?.message ?? error.message;
      if (status === undefined)
        return all({ ok: false, retryable: true, reason: `no-answer: ${error.code ?? error.message}` });
      const reason = `ad-audiences ${status}: ${message}`;
      if (isTransient(error)) {
        const header = error.response?.headers['retry-after'] as string | undefined;
        return all({ ok: false, retryable: true, retryAfterMs: retryAfterMs(header), reason });
      }
      if (status === 400) {
        // Members the platform named are refused for good; the others go again in a later upload without them.
        const refused = new Map<number, string>();
        for (const detail of platform.error?.details ?? [])
          for (const violation of detail.fieldViolations ?? []) {
            const index = MEMBER_FIELD.exec(violation.field ?? '')?.[1];
            if (index !== undefined)
              refused.set(Number(index), `${violation.field ?? ''}: ${violation.description ?? 'invalid'}`);
          }
        if (refused.size > 0)
          return batch.waiting.map((w) => {
            const problem = refused.get(positions.get(memberKey(w.member)) ?? -1);
            return problem === undefined
              ? {
                  ok: false,
                  retryable: true,
                  reason: 'ad-audiences 400: another member of the upload was refused',
                }
              : { ok: false, retryable: false, reason: `ad-audiences 400: ${problem}` };
          });
      }
      return all({ ok: false, retryable: false, reason });
    }
  }

  /** POSTs with a Bearer token; a 401 replaces the token once (revoked or expired early). */
  private async post(path: string, body: unknown): Promise<Record<string, unknown>> {
    for (let fresh = false; ; fresh = true) {
      const token = await this.accessToken(fresh);
      try {
        const response = await this.http.post<Record<string, unknown>>(path, body, {
          headers: { authorization: `Bearer ${token}` },
          'axios-retry': this.retries(path),
        });
        return response.data;
      } catch (error) {
        if (!fresh && isAxiosError(error) && error.response?.status === 401) continue;
        throw error;
      }
    }
  }

  /** A token valid for a while yet; one request for it at a time. */
  private async accessToken(replace: boolean): Promise<string> {
    if (!replace && this.token && this.token.expiresAt - TOKEN_MARGIN_MS > Date.now())
      return this.token.value;
    this.tokenRequest ??= this.requestToken().finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  private async requestToken(): Promise<string> {
    const basic = Buffer.from(
      `${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(this.options.clientSecret)}`,
    ).toString('base64');
    const response = await this.http.post<{ access_token?: unknown; expires_in?: unknown }>(
      '/oauth2/token',
      new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
      {
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        'axios-retry': this.retries('/oauth2/token'),
      },
    );
    const { access_token: value, expires_in: expiresIn } = response.data;
    if (typeof value !== 'string' || value === '')
      throw new Error('the token endpoint answered without a token');
    const seconds = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : 3600;
    this.token = { value, expiresAt: Date.now() + seconds * 1000 };
    return value;
  }

  /** Transient failures retried within `maxRetryMs`, each wait at least the platform's Retry-After. */
  private retries(path: string) {
    const deadline = Date.now() + this.options.maxRetryMs;
    let plannedDelayMs = 0;
    return {
      retryCondition: (error: AxiosError): boolean => {
        if (!isTransient(error)) return false;
        const retryNumber = (error.config?.['axios-retry']?.retryCount ?? 0) + 1;
        plannedDelayMs = Math.max(2 ** retryNumber * BACKOFF_BASE_MS, retryAfter(error));
        return Date.now() + plannedDelayMs <= deadline;
      },
      retryDelay: (retryNumber: number, error: AxiosError): number =>
        Math.max(
          plannedDelayMs,
          Math.min(exponentialDelay(retryNumber, error, BACKOFF_BASE_MS), deadline - Date.now()),
        ),
      onRetry: (retryNumber: number, error: AxiosError): void => {
        // The status only: the error's config holds the Authorization header.
        this.options.logger?.debug(
          { event: 'ad-audiences-retry', path, status: error.response?.status ?? error.code, retryNumber },
          'ad audience upload retry',
        );
      },
    };
  }
}
