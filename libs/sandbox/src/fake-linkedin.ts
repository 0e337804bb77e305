import { timingSafeEqual } from 'node:crypto';
import { FakeHttpApi, jsonReply, type Exchange, type FakeHttpApiOptions, type Reply } from './fake-http';

export interface FakeLinkedInOptions extends FakeHttpApiOptions {
  /** The Bearer token posts need; unset = any non-empty token (the `npm start` sandbox). */
  accessToken?: string;
}

/** One post as LinkedIn's Posts API took it. */
export interface FakeLinkedInPost {
  /** `urn:li:share:<n>`, what the create answered in `x-restli-id`. */
  urn: string;
  author: string;
  commentary: string;
  visibility: string;
  lifecycleState: string;
  /** `content.article`, when the post shares a link. */
  article: { source: string; title?: string; description?: string } | null;
  /** The `LinkedIn-Version` it was created with. */
  version: string;
  /** ISO time it was created. */
  createdAt: string;
  deleted: boolean;
}

type Json = Record<string, unknown>;

interface InputError {
  path: string;
  description: string;
}

const POSTS = '/rest/posts';
const POST = /^\/rest\/posts\/([^/]+)$/;
const AUTHOR = /^urn:li:(person|organization):[A-Za-z0-9_-]+$/;
const VISIBILITIES = ['PUBLIC', 'CONNECTIONS', 'LOGGED_IN', 'CONTAINER'];
const FEED_DISTRIBUTIONS = ['MAIN_FEED', 'NONE'];
const LIFECYCLE_STATES = ['PUBLISHED', 'DRAFT'];
const MAX_COMMENTARY = 3_000;
/** `YYYYMM` or `YYYYMM.RR`, as LinkedIn's versioned APIs take them. */
const VERSION = /^\d{6}(\.\d{2})?$/;

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A local fake of LinkedIn's versioned Posts API (`/rest/posts`) that answers like it: Bearer token (401
 * `INVALID_ACCESS_TOKEN`), a `LinkedIn-Version` header (400 `VERSION_MISSING`, 426 `NONEXISTENT_VERSION`), 422
 * with the offending field paths, create as 201 with the post's URN in `x-restli-id`, delete as 204 (404 for an
 * unknown or deleted post), plus the shared rate limit (429 + Retry-After) and injected failures. Drive it with
 * LinkedIn's official `linkedin-api-client` pointed at its `baseUrl`. `GET /sandbox/messages` lists the posts.
 */
export class FakeLinkedIn extends FakeHttpApi {
  private readonly stored = new Map<string, FakeLinkedInPost>();
  private nextId = 7_100_000_000_000_000_001n;

  constructor(private readonly options: FakeLinkedInOptions = {}) {
    super(options);
  }

  /** Every post created, deleted ones too, oldest first. */
  get posts(): readonly FakeLinkedInPost[] {
    return [...this.stored.values()];
  }

  /** The posts not deleted. */
  live(): FakeLinkedInPost[] {
    return this.posts.filter((p) => !p.deleted);
  }

  override reset(): void {
    super.reset();
    this.stored.clear();
  }

  protected sandboxMessages(): readonly unknown[] {
    return this.posts;
  }

  protected authenticate(exchange: Exchange): Reply | undefined {
    const header = exchange.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    const known =
      this.options.accessToken === undefined ? token.length > 0 : sameSecret(token, this.options.accessToken);
    if (known) return undefined;
    return this.linkedInError(401, 'INVALID_ACCESS_TOKEN', 'Invalid access token', 65600);
  }

  protected error(status: number, message: string, headers: Record<string, string> = {}): Reply {
    if (status === 429)
      return this.linkedInError(
        429,
        'TOO_MANY_REQUESTS',
        'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.',
        101,
        headers,
      );
    return this.linkedInError(status, status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'ERROR', message, 0, headers);
  }

  protected route(exchange: Exchange): Reply {
    const version = exchange.headers['linkedin-version'];
    if (typeof version !== 'string' || version === '')
      return this.linkedInError(
        400,
        'VERSION_MISSING',
        'A version must be present. Please specify a version by adding the LinkedIn-Version header.',
      );
    if (!VERSION.test(version))
      return this.linkedInError(426, 'NONEXISTENT_VERSION', `Requested version ${version} is not active`);
    const path = exchange.url.pathname;
    if (path === POSTS && exchange.method === 'POST') return this.create(exchange, version);
    const match = POST.exec(path);
    if (match?.[1] !== undefined) {
      const urn = decodeURIComponent(match[1]);
      if (exchange.method === 'GET') return this.read(urn);
      if (exchange.method === 'DELETE') return this.remove(urn);
    }
    return this.linkedInError(404, 'NOT_FOUND', 'Not Found');
  }

  private create(exchange: Exchange, version: string): Reply {
    const method = exchange.headers['x-restli-method'];
    if (method !== undefined && method !== 'create')
      return this.linkedInError(400, 'BAD_REQUEST', `Unsupported method ${String(method)} for a POST`);
    let body: unknown;
    try {
      body = JSON.parse(exchange.body.toString('utf8'));
    } catch {
      return this.linkedInError(400, 'BAD_REQUEST', 'Unable to parse the request body as JSON');
    }
    if (!isRecord(body)) return this.linkedInError(400, 'BAD_REQUEST', 'The request body must be an object');
    const errors = validate(body);
    if (errors.length > 0) {
      const [first] = errors;
      return jsonReply(422, {
        status: 422,
        serviceErrorCode: 100,
        code: 'UNPROCESSABLE_ENTITY',
        message: `ERROR :: ${first?.path ?? '/'} :: ${first?.description ?? 'invalid'}`,
        errorDetails: {
          inputErrors: errors.map((e) => ({
            description: e.description,
            input: { inputPath: { fieldPath: e.path } },
            code: 'INVALID_VALUE',
          })),
        },
      });
    }
    const urn = `urn:li:share:${this.nextId}`;
    this.nextId += 1n;
    const content = isRecord(body['content']) ? body['content'] : {};
    const article = isRecord(content['article']) ? content['article'] : undefined;
    this.stored.set(urn, {
      urn,
      author: body['author'] as string,
      commentary: (body['commentary'] as string | undefined) ?? '',
      visibility: body['visibility'] as string,
      lifecycleState: body['lifecycleState'] as string,
      article: article
        ? {
            source: article['source'] as string,
            ...(typeof article['title'] === 'string' ? { title: article['title'] } : {}),
            ...(typeof article['description'] === 'string' ? { description: article['description'] } : {}),
          }
        : null,
      version,
      createdAt: new Date(exchange.at).toISOString(),
      deleted: false,
    });
    return { status: 201, headers: { 'x-restli-id': urn, 'x-linkedin-id': urn } };
  }

  private read(urn: string): Reply {
    const post = this.stored.get(urn);
    if (!post || post.deleted) return this.linkedInError(404, 'NOT_FOUND', `Post ${urn} does not exist`);
    return jsonReply(200, {
      id: post.urn,
      author: post.author,
      commentary: post.commentary,
      visibility: post.visibility,
      lifecycleState: post.lifecycleState,
      distribution: { feedDistribution: 'MAIN_FEED' },
      ...(post.article ? { content: { article: post.article } } : {}),
    });
  }

  private remove(urn: string): Reply {
    const post = this.stored.get(urn);
    if (!post || post.deleted) return this.linkedInError(404, 'NOT_FOUND', `Post ${urn} does not exist`);
    post.deleted = true;
    return { status: 204 };
  }

  private linkedInError(
    status: number,
    code: string,
    message: string,
    serviceErrorCode = 0,
    headers: Record<string, string> = {},
  ): Reply {
    return jsonReply(status, { status, serviceErrorCode, code, message }, headers);
  }
}

/** Every field the Posts API would refuse, by its JSON pointer. */
function validate(body: Json): InputError[] {
  const errors: InputError[] = [];
  const author = body['author'];
  if (typeof author !== 'string')
    errors.push({ path: '/author', description: 'field is required but not found' });
  else if (!AUTHOR.test(author))
    errors.push({ path: '/author', description: `"${author}" is not a person or organization URN` });
  const commentary = body['commentary'];
  if (commentary !== undefined && typeof commentary !== 'string')
    errors.push({ path: '/commentary', description: 'must be a string' });
  else if (typeof commentary === 'string' && commentary.length > MAX_COMMENTARY)
    errors.push({
      path: '/commentary',
      description: `length ${commentary.length} exceeds the maximum of ${MAX_COMMENTARY}`,
    });
  enumField(body['visibility'], '/visibility', VISIBILITIES, errors);
  enumField(body['lifecycleState'], '/lifecycleState', LIFECYCLE_STATES, errors);
  const distribution = body['distribution'];
  if (!isRecord(distribution))
    errors.push({ path: '/distribution', description: 'field is required but not found' });
  else
    enumField(distribution['feedDistribution'], '/distribution/feedDistribution', FEED_DISTRIBUTIONS, errors);
  const content = body['content'];
  if (content !== undefined) {
    const article = isRecord(content) ? content['article'] : undefined;
    const source = isRecord(article) ? article['source'] : undefined;
    if (article !== undefined && (typeof source !== 'string' || !/^https?:\/\//.test(source)))
      errors.push({ path: '/content/article/source', description: 'must be an http(s) URL' });
  }
  return errors;
}

function enumField(value: unknown, path: string, symbols: string[], errors: InputError[]): void {
  if (value === undefined) errors.push({ path, description: 'field is required but not found' });
  else if (typeof value !== 'string' || !symbols.includes(value))
    errors.push({ path, description: `${JSON.stringify(value)} is not an enum symbol` });
}
