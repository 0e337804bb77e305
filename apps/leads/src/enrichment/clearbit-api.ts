import axios, { isAxiosError, type AxiosError, type AxiosInstance } from 'axios';
import axiosRetry, { exponentialDelay, retryAfter } from 'axios-retry';
import { RateLimiterMemory, RateLimiterQueue } from 'rate-limiter-flexible';
import { z } from 'zod';
import type { Logger } from '@tributary/observability';
import type { ContactAttributes } from '../contacts/contact-attributes';
import type { ProviderAnswer } from './enrichment-cache';
import { ProviderUnavailableError } from './enrichment.port';
import { regionOfCountry } from './regions';

/** Retries per lookup at most; ENRICHMENT_MAX_RETRY_MS usually ends them first. */
const MAX_RETRIES = 6;
/** axios-retry's exponential backoff: 2^n × this (200, 400, 800 … ms) plus up to 20 % jitter. */
const BACKOFF_BASE_MS = 100;
/** One quota per API client (per process). */
const QUOTA_KEY = 'provider';

/** The two lookups of a Clearbit-style API; null = the provider does not know the company or person. */
export interface CompanyPersonLookups {
  findCompany(domain: string): Promise<ProviderAnswer>;
  findPerson(email: string): Promise<ProviderAnswer>;
}

export interface ClearbitApiOptions {
  baseUrl: string;
  /** Sent as a Bearer token; kept out of logs and errors. */
  apiKey?: string;
  /** One request's timeout. */
  timeoutMs: number;
  /** Time one lookup may spend waiting for retries and quota before it fails with ProviderUnavailableError. */
  maxRetryMs: number;
  /** Requests per minute this process sends, retries included. */
  quotaPerMinute: number;
  logger?: Logger;
}

const text = z.string().trim().min(1).nullish().catch(undefined);
const countryCode = z
  .string()
  .regex(/^[A-Za-z]{2}$/)
  .transform((code) => code.toUpperCase())
  .nullish()
  .catch(undefined);
const geo = z.object({ countryCode }).nullish();

const companyBody = z.object({
  name: text,
  domain: text,
  metrics: z.object({ employees: z.number().int().nonnegative().nullish().catch(undefined) }).nullish(),
  category: z.object({ industry: text }).nullish(),
  geo,
});

const personBody = z.object({
  name: z.object({ givenName: text, familyName: text }).nullish(),
  employment: z.object({ title: text, domain: text, name: text }).nullish(),
  geo,
});

/** Drops absent fields, so a merge never overwrites a known value with nothing. */
function known(attributes: Partial<Record<keyof ContactAttributes, unknown>>): Partial<ContactAttributes> {
  return Object.fromEntries(
    Object.entries(attributes).filter(([, value]) => value !== undefined && value !== null),
  ) as Partial<ContactAttributes>;
}

function place(country: string | null | undefined): Partial<ContactAttributes> {
  return country ? known({ country, region: regionOfCountry(country) }) : {};
}

/** Contact attributes of a `/v2/companies/find` body. */
export function companyAttributesOf(body: unknown): Partial<ContactAttributes> {
  const company = companyBody.parse(body);
  return known({
    company: company.name,
    companyDomain: company.domain?.toLowerCase(),
    companySize: company.metrics?.employees,
    industry: company.category?.industry,
    ...place(company.geo?.countryCode),
  });
}

/** Contact attributes of a `/v2/people/find` body. */
export function personAttributesOf(body: unknown): Partial<ContactAttributes> {
  const person = personBody.parse(body);
  return known({
    firstName: person.name?.givenName,
    lastName: person.name?.familyName,
    title: person.employment?.title,
    company: person.employment?.name,
    companyDomain: person.employment?.domain?.toLowerCase(),
    ...place(person.geo?.countryCode),
  });
}

/** 429, 408, 5xx, timeouts and network errors may pass; anything else will not. */
function isTransient(error: AxiosError): boolean {
  const status = error.response?.status;
  if (status === undefined) return error.code !== 'ERR_CANCELED';
  return status === 408 || status === 429 || status >= 500;
}

/**
 * HTTP client of a Clearbit-style enrichment API. Retries are axios-retry's: 429 waits at least its Retry-After,
 * 5xx/timeouts/network errors back off exponentially, and no retry starts that would end past `maxRetryMs`. A
 * client-side quota (rate-limiter-flexible, per process, FIFO) spaces requests so we stay under the provider's.
 */
export class ClearbitApi implements CompanyPersonLookups {
  readonly name = 'clearbit';
  private readonly http: AxiosInstance;
  private readonly limiter: RateLimiterMemory;
  private readonly quota: RateLimiterQueue;

  constructor(private readonly options: ClearbitApiOptions) {
    this.http = axios.create({
      baseURL: options.baseUrl,
      timeout: options.timeoutMs,
      headers: {
        accept: 'application/json',
        ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
      },
    });
    axiosRetry(this.http, { retries: MAX_RETRIES, shouldResetTimeout: true });
    this.limiter = new RateLimiterMemory({ points: options.quotaPerMinute, duration: 60 });
    this.quota = new RateLimiterQueue(this.limiter);
  }

  async findCompany(domain: string): Promise<ProviderAnswer> {
    const body = await this.find('/v2/companies/find', { domain });
    return body === null ? null : this.parsed(body, companyAttributesOf);
  }

  async findPerson(email: string): Promise<ProviderAnswer> {
    const body = await this.find('/v2/people/find', { email });
    return body === null ? null : this.parsed(body, personAttributesOf);
  }

  private parsed(
    body: unknown,
    toAttributes: (body: unknown) => Partial<ContactAttributes>,
  ): Partial<ContactAttributes> {
    try {
      return toAttributes(body);
    } catch {
      throw new ProviderUnavailableError(this.name, 'unexpected response body');
    }
  }

  /** The response body, or null when the provider does not know the record (404). */
  private async find(path: string, params: Record<string, string>): Promise<unknown> {
    const deadline = Date.now() + this.options.maxRetryMs;
    let attempts = 1;
    let plannedDelayMs = 0;
    await this.takeQuota(deadline - Date.now());
    try {
      const response = await this.http.get<unknown>(path, {
        params,
        'axios-retry': {
          retryCondition: (error) => {
            if (!isTransient(error)) return false;
            const retryNumber = (error.config?.['axios-retry']?.retryCount ?? 0) + 1;
            plannedDelayMs = Math.max(2 ** retryNumber * BACKOFF_BASE_MS, retryAfter(error));
            return Date.now() + plannedDelayMs <= deadline;
          },
          // Jitter only lengthens the wait, and only within the budget: Retry-After is never cut short.
          retryDelay: (retryNumber, error) =>
            Math.max(
              plannedDelayMs,
              Math.min(exponentialDelay(retryNumber, error, BACKOFF_BASE_MS), deadline - Date.now()),
            ),
          onRetry: async (retryNumber, error) => {
            attempts = retryNumber + 1;
            this.options.logger?.debug(
              { event: 'enrichment-retry', path, status: error.response?.status ?? error.code, retryNumber },
              'enrichment provider retry',
            );
            await this.takeQuota(deadline - Date.now() - plannedDelayMs);
          },
        },
      });
      // 202: the provider queued the lookup; it knows nothing yet, so ask again later rather than cache a miss.
      if (response.status === 202) throw new ProviderUnavailableError(this.name, 'lookup queued (HTTP 202)');
      return response.data;
    } catch (error) {
      if (!isAxiosError(error)) throw error;
      const status = error.response?.status;
      if (status === 404) return null;
      if (status === 401 || status === 403)
        throw new ProviderUnavailableError(this.name, `API key refused (HTTP ${status})`);
      if (status !== undefined && !isTransient(error)) {
        // The provider cannot answer for this input (e.g. 422 invalid domain): as good as unknown.
        this.options.logger?.warn(
          { event: 'enrichment-rejected', path, status },
          'enrichment lookup rejected',
        );
        return null;
      }
      const what = status === undefined ? (error.code ?? 'network error') : `HTTP ${status}`;
      throw new ProviderUnavailableError(this.name, `${what} after ${attempts} attempt(s)`);
    }
  }

  /**
   * Waits for a request token for at most `budgetMs`; past it the provider counts as unavailable now. When the
   * window is spent and refills too late, it fails at once instead of queueing.
   */
  private async takeQuota(budgetMs: number): Promise<void> {
    const waitMs = Math.max(0, budgetMs);
    const window = await this.limiter.get(QUOTA_KEY);
    if (window && window.remainingPoints <= 0 && window.msBeforeNext > waitMs)
      throw this.quotaExhausted(waitMs);
    // The deadline also drops the queued request, so an abandoned wait does not spend a token later.
    const taken = this.quota.removeTokens(1, QUOTA_KEY, Math.ceil((Date.now() + waitMs) / 1000));
    taken.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), waitMs);
    });
    try {
      const got = await Promise.race([taken.then(() => true), expired]);
      if (!got) throw new Error('quota wait timed out');
    } catch {
      throw this.quotaExhausted(waitMs);
    } finally {
      clearTimeout(timer);
    }
  }

  private quotaExhausted(waitMs: number): ProviderUnavailableError {
    return new ProviderUnavailableError(
      this.name,
      `client quota of ${this.options.quotaPerMinute}/min exhausted for ${waitMs} ms`,
    );
  }
}
