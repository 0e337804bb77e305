import { BadRequestException, type INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage } from 'node:http';
import { CORE_SCHEMA, YAMLException, load as loadYaml } from 'js-yaml';
import { z } from 'zod';
import { MAX_JSON_DEPTH, unstorableParts, type FieldProblem } from './request-input';

/**
 * Definitions users write as documents (scoring models, journeys): YAML or JSON, parsed by one parser so a syntax
 * error names its line, bounded against alias bombs, and validated by a zod schema into field errors.
 */
export type DocumentParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldProblem[] };

/** True for the content types a definition may be sent as YAML with. */
export function isYamlContentType(contentType: string | undefined): boolean {
  return /^(application|text)\/(x-)?yaml\b/i.test(contentType?.trim() ?? '');
}

/** True for JSON content types (`application/json`, `application/*+json`). */
export function isJsonContentType(contentType: string | undefined): boolean {
  return /^application\/([\w.-]+\+)?json\b/i.test(contentType?.trim() ?? '');
}

/** `a.b[2].c` for a zod path; `(body)` for the document itself. */
export function fieldOf(path: readonly PropertyKey[]): string {
  const field = path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    '',
  );
  return field || '(body)';
}

/** A zod error as field problems; `shape` says what the document must be when it is not even an object. */
export function fieldProblemsOf(error: z.ZodError, shape: string): FieldProblem[] {
  return error.issues.flatMap((issue): FieldProblem[] => {
    if (issue.code === z.ZodIssueCode.unrecognized_keys)
      return issue.keys.map((key) => ({ field: fieldOf([...issue.path, key]), reason: 'unknown field' }));
    if (issue.code === z.ZodIssueCode.invalid_enum_value)
      return [
        {
          field: fieldOf(issue.path),
          reason: `unknown value ${JSON.stringify(issue.received)}; expected one of ${issue.options.join(', ')}`,
        },
      ];
    if (issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined')
      return [{ field: fieldOf(issue.path), reason: 'required' }];
    if (issue.code === z.ZodIssueCode.invalid_type && issue.path.length === 0)
      return [{ field: '(body)', reason: shape }];
    return [{ field: fieldOf(issue.path), reason: issue.message }];
  });
}

/** Validates an already-parsed document (e.g. a JSON body Nest parsed). */
export function validateDocument<S extends z.ZodTypeAny>(
  schema: S,
  value: unknown,
  shape: string,
): DocumentParseResult<z.output<S>> {
  const parsed = schema.safeParse(value);
  return parsed.success
    ? { ok: true, value: parsed.data as z.output<S> }
    : { ok: false, errors: fieldProblemsOf(parsed.error, shape) };
}

/** A request (body or query) as its schema reads it, or a 400 `invalid_request` naming each field's problem. */
export function validRequest<S extends z.ZodTypeAny>(schema: S, value: unknown, shape: string): z.output<S> {
  const result = validateDocument(schema, value, shape);
  if (!result.ok) throw new BadRequestException({ error: 'invalid_request', errors: result.errors });
  return result.value;
}

/** A path parameter matching `pattern`, or a 400 `invalid_request` naming the parameter and what it must be. */
export function checkedParam(value: string, pattern: RegExp, field: string, reason: string): string {
  if (!pattern.test(value)) throw new BadRequestException({ error: 'invalid_request', field, reason });
  return value;
}

/** Whether `value` holds at most `limit` values with shared (aliased) objects counted each time they appear. */
function withinExpandedSize(value: unknown, limit: number): boolean {
  let count = 1;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    // Counted before they are walked, so neither the walk nor the stack outgrows the limit.
    count += children.length;
    if (count > limit) return false;
    stack.push(...children);
  }
  return true;
}

/**
 * Parses a document sent as YAML or JSON. The content type decides; without one, text starting with `{` is JSON and
 * anything else YAML. YAML uses the core schema (YAML 1.2: `no` stays the string "no", no dates).
 */
export function parseDocument(
  text: string,
  contentType: string | undefined,
  maxValues: number,
): DocumentParseResult<unknown> {
  const asJson = contentType ? isJsonContentType(contentType) : text.trimStart().startsWith('{');
  let value: unknown;
  try {
    value = asJson ? JSON.parse(text) : loadYaml(text, { schema: CORE_SCHEMA });
  } catch (error) {
    // js-yaml recurses per level: a document nested thousands deep overflows the stack while it is parsed.
    if (error instanceof RangeError)
      return {
        ok: false,
        errors: [{ field: '(body)', reason: `nests deeper than ${MAX_JSON_DEPTH} levels` }],
      };
    if (error instanceof YAMLException) {
      const where = error.mark ? ` at line ${error.mark.line + 1}, column ${error.mark.column + 1}` : '';
      return { ok: false, errors: [{ field: '(body)', reason: `not valid YAML: ${error.reason}${where}` }] };
    }
    // Only the position: JSON.parse's message quotes the input back.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    return {
      ok: false,
      errors: [{ field: '(body)', reason: `not valid JSON${position ? ` at position ${position}` : ''}` }],
    };
  }
  if (!withinExpandedSize(value, maxValues))
    return {
      ok: false,
      errors: [
        {
          field: '(body)',
          reason: `holds more than ${maxValues} values once YAML aliases are expanded; write lists out instead`,
        },
      ],
    };
  // After the size bound: walking an alias bomb's expansion would take exponential time.
  const unstorable = unstorableParts(value);
  return unstorable.length > 0 ? { ok: false, errors: unstorable } : { ok: true, value };
}

/**
 * Routes that take a definition document get it as text, so YAML and JSON go through one parser and a syntax error
 * answers with its line, not Nest's generic 400. Call from the service's `configureApp`, before Nest registers its
 * JSON parser (which then skips these requests).
 */
export function captureDocumentBodies(
  app: INestApplication,
  isDocumentWrite: (method: string, path: string) => boolean,
  limit = '256kb',
): void {
  const matches = (req: IncomingMessage): boolean => {
    const path = (req.url ?? '').split('?', 1)[0]?.replace(/\/+$/, '') ?? '';
    const type = req.headers['content-type'];
    return isDocumentWrite(req.method ?? '', path) && (isYamlContentType(type) || isJsonContentType(type));
  };
  (app as NestExpressApplication).useBodyParser('text', { type: matches, limit });
}
