import { request } from 'node:http';

/** An answer of `requestFrom`. */
export interface AnswerFrom {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/**
 * An HTTP request sent from a chosen local address, so a server sees another client: loopback answers on all of
 * 127.0.0.0/8 (e.g. '127.0.0.2' is a second client of a service on 127.0.0.1). Plain node:http, since fetch cannot
 * choose its source address.
 */
export function requestFrom(
  localAddress: string,
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<AnswerFrom> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, localAddress },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A fetch answer read once: status, headers, text, and the JSON it parses to (undefined when it is not JSON). */
export interface ReadAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** Reads a fetch answer whose body may or may not be JSON (an error page, an empty 204, a hostile input's echo). */
export async function readAnswer(res: Response): Promise<ReadAnswer> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** What a test call may send: a credential for the Authorization header, and a JSON or form body. */
export interface CallOptions {
  auth?: string;
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
}

/** Headers and body of a test call, for fetch or `requestFrom`: JSON wins over a form, as the specs send one. */
export function callParts(options: CallOptions): {
  headers: Record<string, string>;
  body: string | undefined;
} {
  const headers: Record<string, string> = { ...options.headers };
  if (options.auth) headers['authorization'] = options.auth;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    return { headers, body: JSON.stringify(options.json) };
  }
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    return { headers, body: new URLSearchParams(options.form).toString() };
  }
  return { headers, body: undefined };
}
