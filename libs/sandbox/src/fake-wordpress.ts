import { timingSafeEqual } from 'node:crypto';
import { FakeHttpApi, jsonReply, type Exchange, type FakeHttpApiOptions, type Reply } from './fake-http';

export interface FakeWordPressOptions extends FakeHttpApiOptions {
  /**
   * Users and their application passwords, as WordPress shows them (`abcd efgh ...`; spaces do not count). Unset:
   * any user with a non-empty password is taken (the `npm start` sandbox).
   */
  users?: Record<string, string>;
}

export type WordPressPostType = 'post' | 'page';
export type WordPressStatus = 'publish' | 'future' | 'draft' | 'pending' | 'private' | 'trash';

/** One post or page as the fake keeps it (raw fields; the API renders them). */
export interface FakeWordPressPost {
  id: number;
  type: WordPressPostType;
  status: WordPressStatus;
  slug: string;
  title: string;
  content: string;
  excerpt: string;
  /** The user who created it. */
  author: string;
  /** ISO times (UTC). */
  date: string;
  modified: string;
  parent: number;
}

type Json = Record<string, unknown>;

const ROOT = '/wp-json/wp/v2';
const ROUTE = /^\/wp-json\/wp\/v2\/(posts|pages)(?:\/(\d+))?\/?$/;
const WRITABLE_STATUSES = ['publish', 'future', 'draft', 'pending', 'private'] as const;
const MAX_PER_PAGE = 100;

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** WordPress's sanitize_title, roughly: lower-case words joined by hyphens. */
function slugOf(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^a-z0-9\s-]/g, '')
    .trim()
    .replace(/[\s-]+/g, '-')
    .slice(0, 200);
}

/** `title`, `content` and `excerpt` may be a string or `{ raw }`, as WordPress takes them. */
function rawText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value['raw'] === 'string') return value['raw'];
  return undefined;
}

/** wpautop, roughly: text without block markup gets paragraphs. */
function rendered(raw: string): string {
  if (raw.trim() === '') return '';
  if (/^\s*<(p|div|h[1-6]|ul|ol|figure|section|blockquote|!--)/i.test(raw)) return `${raw}\n`;
  return `${raw
    .split(/\n{2,}/)
    .map((p) => `<p>${p.trim()}</p>`)
    .join('\n')}\n`;
}

interface InvalidParam {
  param: string;
  message: string;
  code: string;
}

/**
 * A local fake of the WordPress REST API's posts and pages (`/wp-json/wp/v2/posts`, `/pages`) that answers like
 * WordPress 6: application passwords over HTTP Basic (401 `incorrect_password` / `invalid_username`; writes without
 * them 401 `rest_cannot_create`), create / update / delete (to the trash; `?force=true` for good, 410
 * `rest_already_trashed` twice), validation errors as 400 `rest_invalid_param` with `data.params`, `empty_content`,
 * 404 `rest_post_invalid_id`, list pagination (`page`, `per_page`, X-WP-Total, X-WP-TotalPages, Link), `slug` and
 * `status` filters, unique slugs (`-2`), plus the shared rate limit (429 + Retry-After) and injected failures.
 * `GET /sandbox/messages` lists every post and page it holds.
 */
export class FakeWordPress extends FakeHttpApi {
  private readonly stored = new Map<number, FakeWordPressPost>();
  private nextId = 1;

  constructor(private readonly options: FakeWordPressOptions = {}) {
    super(options);
  }

  /** Every post and page, trashed ones too, oldest first. */
  get posts(): readonly FakeWordPressPost[] {
    return [...this.stored.values()];
  }

  /** The posts (or pages) not in the trash. */
  live(type: WordPressPostType = 'post'): FakeWordPressPost[] {
    return this.posts.filter((p) => p.type === type && p.status !== 'trash');
  }

  override reset(): void {
    super.reset();
    this.stored.clear();
    this.nextId = 1;
  }

  protected sandboxMessages(): readonly unknown[] {
    return this.posts;
  }

  /** Anonymous reads pass (public content); wrong credentials never do. Writes check for a user in `route`. */
  protected authenticate(exchange: Exchange): Reply | undefined {
    const header = exchange.headers.authorization;
    if (header === undefined) return undefined;
    const user = this.userOf(header);
    if (user === 'unknown-user')
      return this.wpError(
        401,
        'invalid_username',
        'Unknown username. Check again or try your email address.',
      );
    if (user === 'wrong-password')
      return this.wpError(
        401,
        'incorrect_password',
        'The provided password is an invalid application password.',
      );
    return undefined;
  }

  protected error(status: number, message: string, headers: Record<string, string> = {}): Reply {
    const code =
      status === 429 ? 'rest_too_many_requests' : status >= 500 ? 'internal_server_error' : 'rest_error';
    return this.wpError(status, code, message, headers);
  }

  protected route(exchange: Exchange): Reply {
    const match = ROUTE.exec(exchange.url.pathname);
    if (!match)
      return this.wpError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
    const type: WordPressPostType = match[1] === 'pages' ? 'page' : 'post';
    const id = match[2] === undefined ? undefined : Number(match[2]);
    const user = this.userOf(exchange.headers.authorization);
    const signedIn = typeof user === 'object' ? user.name : undefined;
    const method = exchange.method;
    if (id === undefined) {
      if (method === 'GET') return this.list(exchange, type, signedIn);
      if (method === 'POST') return this.create(exchange, type, signedIn);
    } else {
      if (method === 'GET') return this.read(exchange, type, id, signedIn);
      if (method === 'POST' || method === 'PUT' || method === 'PATCH')
        return this.update(exchange, type, id, signedIn);
      if (method === 'DELETE') return this.remove(exchange, type, id, signedIn);
    }
    return this.wpError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
  }

  private list(exchange: Exchange, type: WordPressPostType, user: string | undefined): Reply {
    const query = exchange.url.searchParams;
    const invalid: InvalidParam[] = [];
    const page = integerParam(query.get('page'), 'page', 1, Number.MAX_SAFE_INTEGER, invalid) ?? 1;
    const perPage = integerParam(query.get('per_page'), 'per_page', 1, MAX_PER_PAGE, invalid) ?? 10;
    const statuses = (query.get('status') ?? 'publish').split(',').map((s) => s.trim());
    for (const status of statuses) {
      if (![...WRITABLE_STATUSES, 'trash', 'any'].includes(status))
        invalid.push({
          param: 'status',
          code: 'rest_not_in_enum',
          message: `status[0] is not one of publish, future, draft, pending, private, trash, and any.`,
        });
      else if (status !== 'publish' && user === undefined)
        invalid.push({ param: 'status', code: 'rest_forbidden_status', message: 'Status is forbidden.' });
    }
    if (invalid.length > 0) return this.invalidParams(invalid);
    const slugs = query
      .get('slug')
      ?.split(',')
      .map((s) => s.trim());
    const search = query.get('search')?.toLowerCase();
    const matching = this.posts
      .filter((p) => p.type === type)
      .filter((p) => (statuses.includes('any') ? p.status !== 'trash' : statuses.includes(p.status)))
      .filter((p) => slugs === undefined || slugs.includes(p.slug))
      .filter(
        (p) =>
          search === undefined ||
          p.title.toLowerCase().includes(search) ||
          p.content.toLowerCase().includes(search),
      )
      // Newest first, as WordPress orders by date descending.
      .sort((a, b) => b.date.localeCompare(a.date) || b.id - a.id);
    const total = matching.length;
    const totalPages = Math.ceil(total / perPage);
    if (page > 1 && page > totalPages)
      return this.wpError(
        400,
        'rest_post_invalid_page_number',
        'The page number requested is larger than the number of pages available.',
      );
    const items = matching.slice((page - 1) * perPage, page * perPage);
    const base = `${this.baseUrl}${ROOT}/${type === 'page' ? 'pages' : 'posts'}`;
    const link = (n: number) => {
      const params = new URLSearchParams(query);
      params.set('page', String(n));
      return `${base}?${params.toString()}`;
    };
    const links = [
      ...(page > 1 ? [`<${link(page - 1)}>; rel="prev"`] : []),
      ...(page < totalPages ? [`<${link(page + 1)}>; rel="next"`] : []),
    ];
    const context = query.get('context') === 'edit' && user !== undefined ? 'edit' : 'view';
    return jsonReply(
      200,
      items.map((p) => this.view(p, context)),
      {
        'x-wp-total': String(total),
        'x-wp-totalpages': String(totalPages),
        ...(links.length > 0 ? { link: links.join(', ') } : {}),
      },
    );
  }

  private read(exchange: Exchange, type: WordPressPostType, id: number, user: string | undefined): Reply {
    const post = this.stored.get(id);
    // Drafts and trash are only readable by a signed-in user, as in WordPress.
    if (!post || post.type !== type || (post.status !== 'publish' && user === undefined))
      return this.invalidId();
    const context =
      exchange.url.searchParams.get('context') === 'edit' && user !== undefined ? 'edit' : 'view';
    return jsonReply(200, this.view(post, context));
  }

  private create(exchange: Exchange, type: WordPressPostType, user: string | undefined): Reply {
    if (user === undefined)
      return this.wpError(
        401,
        'rest_cannot_create',
        `Sorry, you are not allowed to create ${type === 'page' ? 'pages' : 'posts'} as this user.`,
      );
    const body = parseBody(exchange);
    if (body === undefined) return this.invalidJson();
    const invalid = this.validate(body, exchange.at);
    if (invalid.length > 0) return this.invalidParams(invalid);
    const title = rawText(body['title']) ?? '';
    const content = rawText(body['content']) ?? '';
    const excerpt = rawText(body['excerpt']) ?? '';
    if (title.trim() === '' && content.trim() === '' && excerpt.trim() === '')
      return this.wpError(400, 'empty_content', 'Content, title, and excerpt are empty.');
    const at = new Date(exchange.at).toISOString();
    const id = this.nextId;
    this.nextId += 1;
    const post: FakeWordPressPost = {
      id,
      type,
      status: (body['status'] as WordPressStatus | undefined) ?? 'draft',
      slug: '',
      title,
      content,
      excerpt,
      author: user,
      date: typeof body['date'] === 'string' ? new Date(body['date']).toISOString() : at,
      modified: at,
      parent: typeof body['parent'] === 'number' ? body['parent'] : 0,
    };
    post.slug = this.uniqueSlug(type, id, typeof body['slug'] === 'string' ? body['slug'] : title);
    this.stored.set(id, post);
    return jsonReply(201, this.view(post, 'edit'), {
      location: `${this.baseUrl}${ROOT}/${type === 'page' ? 'pages' : 'posts'}/${id}`,
    });
  }

  private update(exchange: Exchange, type: WordPressPostType, id: number, user: string | undefined): Reply {
    if (user === undefined)
      return this.wpError(401, 'rest_cannot_edit', 'Sorry, you are not allowed to edit this post.');
    const post = this.stored.get(id);
    if (!post || post.type !== type) return this.invalidId();
    const body = parseBody(exchange);
    if (body === undefined) return this.invalidJson();
    const invalid = this.validate(body, exchange.at);
    if (invalid.length > 0) return this.invalidParams(invalid);
    const title = rawText(body['title']);
    const content = rawText(body['content']);
    const excerpt = rawText(body['excerpt']);
    if (title !== undefined) post.title = title;
    if (content !== undefined) post.content = content;
    if (excerpt !== undefined) post.excerpt = excerpt;
    if (typeof body['status'] === 'string') post.status = body['status'] as WordPressStatus;
    if (typeof body['slug'] === 'string') post.slug = this.uniqueSlug(type, id, body['slug']);
    if (typeof body['parent'] === 'number') post.parent = body['parent'];
    post.modified = new Date(exchange.at).toISOString();
    return jsonReply(200, this.view(post, 'edit'));
  }

  private remove(exchange: Exchange, type: WordPressPostType, id: number, user: string | undefined): Reply {
    if (user === undefined)
      return this.wpError(401, 'rest_cannot_delete', 'Sorry, you are not allowed to delete this post.');
    const post = this.stored.get(id);
    if (!post || post.type !== type) return this.invalidId();
    const force = ['true', '1'].includes(exchange.url.searchParams.get('force') ?? '');
    if (force) {
      this.stored.delete(id);
      return jsonReply(200, { deleted: true, previous: this.view(post, 'edit') });
    }
    if (post.status === 'trash')
      return this.wpError(410, 'rest_already_trashed', 'The post has already been deleted.');
    post.status = 'trash';
    post.modified = new Date(exchange.at).toISOString();
    return jsonReply(200, this.view(post, 'edit'));
  }

  /** Every invalid parameter of a create or update, as WordPress's schema validation reports them. */
  private validate(body: Json, at: number): InvalidParam[] {
    const invalid: InvalidParam[] = [];
    for (const field of ['title', 'content', 'excerpt'] as const)
      if (body[field] !== undefined && rawText(body[field]) === undefined)
        invalid.push({
          param: field,
          code: 'rest_invalid_type',
          message: `${field} is not of type object,string.`,
        });
    const status = body['status'];
    if (status !== undefined && !WRITABLE_STATUSES.includes(status as (typeof WRITABLE_STATUSES)[number]))
      invalid.push({
        param: 'status',
        code: 'rest_not_in_enum',
        message: `status is not one of ${WRITABLE_STATUSES.join(', ')}.`,
      });
    if (body['slug'] !== undefined && typeof body['slug'] !== 'string')
      invalid.push({ param: 'slug', code: 'rest_invalid_type', message: 'slug is not of type string.' });
    if (body['parent'] !== undefined && !Number.isInteger(body['parent']))
      invalid.push({ param: 'parent', code: 'rest_invalid_type', message: 'parent is not of type integer.' });
    const date = body['date'];
    if (date !== undefined && (typeof date !== 'string' || Number.isNaN(Date.parse(date))))
      invalid.push({ param: 'date', code: 'rest_invalid_date', message: 'Invalid date.' });
    else if (status === 'future' && (typeof date !== 'string' || Date.parse(date) <= at))
      invalid.push({
        param: 'date',
        code: 'rest_invalid_date',
        message: 'A scheduled post needs a date in the future.',
      });
    return invalid;
  }

  /** The slug asked for (or the title's), with `-2`, `-3` … when another live post of the type holds it. */
  private uniqueSlug(type: WordPressPostType, id: number, wanted: string): string {
    const base = slugOf(wanted) || String(id);
    const taken = new Set(
      this.posts.filter((p) => p.type === type && p.id !== id && p.status !== 'trash').map((p) => p.slug),
    );
    if (!taken.has(base)) return base;
    for (let n = 2; ; n += 1) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
  }

  private view(post: FakeWordPressPost, context: 'view' | 'edit'): Json {
    const path = post.type === 'page' ? 'pages' : 'posts';
    // Titles are shown as written; content and excerpts get paragraphs.
    const field = (raw: string, html = true) => ({
      ...(context === 'edit' ? { raw } : {}),
      rendered: html ? rendered(raw) : raw,
    });
    return {
      id: post.id,
      date: post.date.replace(/\.\d{3}Z$/, ''),
      date_gmt: post.date.replace(/\.\d{3}Z$/, ''),
      guid: { rendered: `${this.baseUrl}/?${post.type === 'page' ? 'page_id' : 'p'}=${post.id}` },
      modified: post.modified.replace(/\.\d{3}Z$/, ''),
      modified_gmt: post.modified.replace(/\.\d{3}Z$/, ''),
      slug: post.slug,
      status: post.status,
      type: post.type,
      link: post.status === 'publish' ? `${this.baseUrl}/${post.slug}/` : `${this.baseUrl}/?p=${post.id}`,
      title: field(post.title, false),
      content: { ...field(post.content), protected: false },
      excerpt: { ...field(post.excerpt), protected: false },
      author: 1,
      ...(post.type === 'page' ? { parent: post.parent, menu_order: 0 } : {}),
      _links: { self: [{ href: `${this.baseUrl}${ROOT}/${path}/${post.id}` }] },
    };
  }

  /** The signed-in user, or why the credentials failed; undefined without credentials. */
  private userOf(
    header: string | undefined,
  ): { name: string } | 'unknown-user' | 'wrong-password' | undefined {
    if (header === undefined || !header.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(header.slice('Basic '.length).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const name = colon === -1 ? decoded : decoded.slice(0, colon);
    // WordPress strips everything but letters and digits from an application password.
    const password = (colon === -1 ? '' : decoded.slice(colon + 1)).replace(/[^a-z\d]/gi, '');
    const users = this.options.users;
    if (users === undefined) return name !== '' && password !== '' ? { name } : 'wrong-password';
    const expected = users[name];
    if (expected === undefined) return 'unknown-user';
    return sameSecret(password, expected.replace(/[^a-z\d]/gi, '')) ? { name } : 'wrong-password';
  }

  private wpError(
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ): Reply {
    return jsonReply(status, { code, message, data: { status } }, headers);
  }

  private invalidId(): Reply {
    return this.wpError(404, 'rest_post_invalid_id', 'Invalid post ID.');
  }

  private invalidJson(): Reply {
    return this.wpError(400, 'rest_invalid_json', 'Invalid JSON body passed.');
  }

  private invalidParams(invalid: InvalidParam[]): Reply {
    const params = [...new Set(invalid.map((i) => i.param))];
    return jsonReply(400, {
      code: 'rest_invalid_param',
      message: `Invalid parameter(s): ${params.join(', ')}`,
      data: {
        status: 400,
        params: Object.fromEntries(invalid.map((i) => [i.param, i.message])),
        details: Object.fromEntries(
          invalid.map((i) => [i.param, { code: i.code, message: i.message, data: null }]),
        ),
      },
    });
  }
}

function parseBody(exchange: Exchange): Json | undefined {
  const text = exchange.body.toString('utf8');
  if (text.trim() === '') return {};
  try {
    const body: unknown = JSON.parse(text);
    return isRecord(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

function integerParam(
  raw: string | null,
  param: string,
  min: number,
  max: number,
  invalid: InvalidParam[],
): number | undefined {
  if (raw === null) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value)) {
    invalid.push({ param, code: 'rest_invalid_type', message: `${param} is not of type integer.` });
    return undefined;
  }
  if (value < min || value > max) {
    invalid.push({
      param,
      code: 'rest_out_of_bounds',
      message: `${param} must be between ${min} (inclusive) and ${max} (inclusive)`,
    });
    return undefined;
  }
  return value;
}
