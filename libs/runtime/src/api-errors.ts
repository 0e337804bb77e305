import { HttpException, HttpStatus } from '@nestjs/common';
import type { FieldProblem } from './request-input';

/** The one error body every API answers: a machine-readable code and every problem found, field by field. */
export interface ApiErrorBody {
  error: string;
  problems: FieldProblem[];
  [more: string]: unknown;
}

/** What an exception becomes on the wire; `unexpected` errors are the service's fault and worth a log line. */
export interface ApiError {
  status: number;
  body: ApiErrorBody;
  unexpected: boolean;
}

// What body-parser and express's router name their refusals (http-errors `type`), said without echoing the input.
const PARSER_REASONS: Record<string, string> = {
  'entity.parse.failed': 'body is not valid JSON (or not the declared content type)',
  'entity.too.large': 'request body is too large',
  'entity.verify.failed': 'body could not be verified',
  'encoding.unsupported': 'unsupported content encoding',
  'charset.unsupported': 'unsupported charset',
  'request.aborted': 'request was aborted',
  'request.size.invalid': 'request size did not match its content length',
  'parameters.too.many': 'too many form parameters',
  'stream.encoding.set': 'request stream encoding was set',
};

// Said instead of Nest's default messages, which repeat the method and path (or the body) the client sent.
const STATUS_REASONS: Partial<Record<number, string>> = {
  [HttpStatus.BAD_REQUEST]: 'malformed request',
  [HttpStatus.UNAUTHORIZED]: 'authentication required',
  [HttpStatus.FORBIDDEN]: 'not allowed',
  [HttpStatus.NOT_FOUND]: 'no such route or resource',
  [HttpStatus.METHOD_NOT_ALLOWED]: 'method not allowed on this route',
  [HttpStatus.PAYLOAD_TOO_LARGE]: 'request body is too large',
  [HttpStatus.UNSUPPORTED_MEDIA_TYPE]: 'unsupported content type',
  [HttpStatus.TOO_MANY_REQUESTS]: 'too many requests',
};

/** `Bad Request` → `bad_request`: the error code of a status Nest answered with its default body. */
function codeOf(status: number): string {
  const name =
    (HttpStatus[status] as string | undefined) ?? (status < 500 ? 'BAD_REQUEST' : 'INTERNAL_ERROR');
  return name.toLowerCase();
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function problemOf(value: unknown): FieldProblem | undefined {
  if (!isRecord(value)) return undefined;
  const field = value['field'] ?? value['path'];
  const reason = value['reason'] ?? value['message'];
  if (typeof reason !== 'string') return undefined;
  return { field: typeof field === 'string' ? field : '(request)', reason };
}

/** Our own bodies (`{error, …}` with a snake_case code) keep every key and gain `problems` when they lack it. */
function ownBody(status: number, response: Record<string, unknown>): ApiErrorBody | undefined {
  const error = response['error'];
  // Nest's defaults carry `statusCode` and a human `error` ("Bad Request"): never ours.
  if (typeof error !== 'string' || 'statusCode' in response) return undefined;
  if (Array.isArray(response['problems'])) return response as ApiErrorBody;
  const listed = Array.isArray(response['errors'])
    ? response['errors'].map(problemOf)
    : [problemOf(response)];
  const problems = listed.filter((p): p is FieldProblem => p !== undefined);
  return {
    ...response,
    error,
    problems:
      problems.length > 0 ? problems : [{ field: '(request)', reason: STATUS_REASONS[status] ?? error }],
  };
}

/**
 * Maps anything a request handler, guard, pipe or body parser threw to the API's error body. Nest's default bodies
 * (which echo the request) and anything unexpected (never its message or stack) become a generic reason.
 */
export function toApiError(exception: unknown, requestId?: string): ApiError {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const own = isRecord(response) ? ownBody(status, response) : undefined;
    if (own) return { status, body: own, unexpected: false };
    const parserType = isRecord(exception.cause) ? exception.cause['type'] : undefined;
    const reason =
      (typeof parserType === 'string' ? PARSER_REASONS[parserType] : undefined) ??
      STATUS_REASONS[status] ??
      (status < 500 ? 'request refused' : 'the service could not handle the request');
    return {
      status,
      body: { error: codeOf(status), problems: [{ field: '(request)', reason }] },
      unexpected: status >= 500,
    };
  }
  // body-parser and express raise http-errors objects: a status and a `type` naming what was wrong.
  if (isRecord(exception) || exception instanceof Error) {
    const fields = exception as unknown as Record<string, unknown>;
    const status = fields['status'] ?? fields['statusCode'];
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const type = fields['type'];
      const reason =
        (typeof type === 'string' ? PARSER_REASONS[type] : undefined) ??
        STATUS_REASONS[status] ??
        'request refused';
      return {
        status,
        body: { error: codeOf(status), problems: [{ field: '(request)', reason }] },
        unexpected: false,
      };
    }
  }
  const reason = requestId
    ? `unexpected error; quote request id ${requestId} when reporting it`
    : 'unexpected error';
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    body: { error: 'internal_error', problems: [{ field: '(service)', reason }] },
    unexpected: true,
  };
}
