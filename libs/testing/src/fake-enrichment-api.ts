import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A company the fake knows, flat; served in Clearbit's shape from `/v2/companies/find?domain=`. */
export interface FakeCompany {
  domain: string;
  name: string;
  employees?: number;
  industry?: string;
  /** ISO 3166-1 alpha-2. */
  countryCode?: string;
}

/** A person the fake knows, flat; served in Clearbit's shape from `/v2/people/find?email=`. */
export interface FakePerson {
  email: string;
  givenName?: string;
  familyName?: string;
  title?: string;
  /** Employer's domain. */
  domain?: string;
  employer?: string;
  countryCode?: string;
}

export interface FakeEnrichmentApiOptions {
  /** Required Bearer key; requests without it get 401. Unset = no auth check. */
  apiKey?: string;
  companies?: FakeCompany[];
  people?: FakePerson[];
  /** The provider's own rate limit: `requests` per fixed window, then 429 with Retry-After until it ends. */
  quota?: { requests: number; windowMs: number };
}

/** One request as the fake saw it; `at` is the fake's clock on arrival, so tests can check a client's waits. */
export interface FakeRequest {
  method: string;
  /** Path with query, e.g. `/v2/companies/find?domain=acme.example`. */
  path: string;
  /** Path without query, e.g. `/v2/companies/find`. */
  pathname: string;
  status: number;
  at: number;
}

/** An injected failure: the status to answer and, for 429/503, a Retry-After in seconds. */
export interface InjectedFailure {
  status: number;
  retryAfterSeconds?: number;
}

/**
 * A local HTTP fake of a Clearbit-style enrichment API on an ephemeral port: Bearer key check (401), a quota per
 * window (429 + Retry-After), injected failures, an outage switch, and a log of every request it answered.
 */
export class FakeEnrichmentApi {
  /** Every request answered, in arrival order. */
  readonly requests: FakeRequest[] = [];
  private readonly companies = new Map<string, FakeCompany>();
  private readonly people = new Map<string, FakePerson>();
  private readonly failures: InjectedFailure[] = [];
  private down = false;
  private window = { startedAt: 0, used: 0 };
  private server: Server | undefined;

  constructor(private readonly options: FakeEnrichmentApiOptions = {}) {
    for (const company of options.companies ?? []) this.putCompany(company);
    for (const person of options.people ?? []) this.putPerson(person);
  }

  async start(): Promise<{ url: string }> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}` };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `count` requests (after the key check) fail with `status`. */
  failNext(count: number, status = 503): void {
    this.rejectNext(count, { status });
  }

  /** The next `count` requests (after the key check) get `failure`, e.g. `{ status: 429, retryAfterSeconds: 1 }`. */
  rejectNext(count: number, failure: InjectedFailure): void {
    for (let i = 0; i < count; i += 1) this.failures.push(failure);
  }

  /** While down, every request gets 503. */
  setDown(down: boolean): void {
    this.down = down;
  }

  putCompany(company: FakeCompany): void {
    this.companies.set(company.domain.toLowerCase(), company);
  }

  putPerson(person: FakePerson): void {
    this.people.set(person.email.toLowerCase(), person);
  }

  /** How many requests reached `pathname` (e.g. `/v2/companies/find`), whatever their answer. */
  count(pathname: string): number {
    return this.requests.filter((r) => r.pathname === pathname).length;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://fake');
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({
        method: req.method ?? 'GET',
        path: url.pathname + url.search,
        pathname: url.pathname,
        status,
        at,
      });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, type: string, retryAfterSeconds?: number) =>
      answer(
        status,
        { error: { type, message: type } },
        retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
      );

    if (this.options.apiKey !== undefined && req.headers.authorization !== `Bearer ${this.options.apiKey}`)
      return error(401, 'auth_failed');
    if (this.down) return error(503, 'service_unavailable', 1);
    const failure = this.failures.shift();
    if (failure) return error(failure.status, 'injected_failure', failure.retryAfterSeconds);
    const quota = this.options.quota;
    if (quota) {
      if (at - this.window.startedAt >= quota.windowMs) this.window = { startedAt: at, used: 0 };
      if (this.window.used >= quota.requests) {
        const retryAfter = Math.max(1, Math.ceil((this.window.startedAt + quota.windowMs - at) / 1000));
        return error(429, 'rate_limit', retryAfter);
      }
      this.window.used += 1;
    }
    if (req.method !== 'GET') return error(405, 'method_not_allowed');

    if (url.pathname === '/v2/companies/find') {
      const domain = url.searchParams.get('domain')?.toLowerCase();
      if (!domain) return error(422, 'invalid_domain');
      const company = this.companies.get(domain);
      if (!company) return error(404, 'unknown_record');
      return answer(200, {
        id: `company_${company.domain}`,
        name: company.name,
        domain: company.domain,
        metrics: { employees: company.employees ?? null },
        category: { industry: company.industry ?? null },
        geo: { countryCode: company.countryCode ?? null },
      });
    }
    if (url.pathname === '/v2/people/find') {
      const email = url.searchParams.get('email')?.toLowerCase();
      if (!email) return error(422, 'invalid_email');
      const person = this.people.get(email);
      if (!person) return error(404, 'unknown_record');
      return answer(200, {
        id: `person_${person.email}`,
        email: person.email,
        name: { givenName: person.givenName ?? null, familyName: person.familyName ?? null },
        employment: {
          title: person.title ?? null,
          domain: person.domain ?? null,
          name: person.employer ?? null,
        },
        geo: { countryCode: person.countryCode ?? null },
      });
    }
    return error(404, 'unknown_route');
  }
}
