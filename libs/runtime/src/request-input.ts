import {
  BadRequestException,
  Injectable,
  SetMetadata,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { Observable } from 'rxjs';

/** One field-level problem, as every API reports them: `{error, problems: [{field, reason}]}`. */
export interface FieldProblem {
  field: string;
  reason: string;
}

/**
 * How deep JSON may nest. Serialising and validating recurse, so a body nested thousands deep inside the size limit
 * would overflow the stack; no marketing payload comes near this.
 */
export const MAX_JSON_DEPTH = 64;

/** PostgreSQL (behind FerretDB) refuses U+0000 in text and jsonb, so a string holding it can never be stored. */
export const NUL_IN_TEXT = 'must not contain the NUL character (\\u0000)';
export const NUL_IN_KEY = 'key must not contain the NUL character (\\u0000)';
export const TOO_DEEP = `nests deeper than ${MAX_JSON_DEPTH} levels`;

/** Problems reported per value at most: enough to fix a payload, too few to amplify a hostile one. */
const MAX_PROBLEMS = 10;

const fieldName = (key: string): string =>
  key.includes('\u0000') ? key.replaceAll('\u0000', '\\u0000') : key;

interface Visit {
  value: unknown;
  /** Where the walk came from: the field's path is spelled out only when it has a problem. */
  parent: Visit | undefined;
  key: string;
  depth: number;
  /** The key leading here holds NUL: reported in document order, not walked. */
  badKey: boolean;
}

function pathOf(visit: Visit, root: string): string {
  const keys: string[] = [];
  for (let at: Visit | undefined = visit; at?.parent !== undefined; at = at.parent)
    keys.push(fieldName(at.key));
  if (root) keys.push(root);
  return keys.reverse().join('.');
}

/**
 * The parts of a JSON value no store can take: NUL characters in strings or keys, and nesting deeper than
 * MAX_JSON_DEPTH. The walk is iterative, so it is safe on any depth; `root` prefixes the reported fields.
 * The platform's rule for every text that can reach a store: refused at the edge with a field error, never stripped.
 */
export function unstorableParts(value: unknown, root = ''): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const stack: Visit[] = [{ value, parent: undefined, key: '', depth: 0, badKey: false }];
  while (stack.length > 0 && problems.length < MAX_PROBLEMS) {
    const visit = stack.pop() as Visit;
    const { value: current, depth } = visit;
    if (visit.badKey) {
      problems.push({ field: pathOf(visit, root), reason: NUL_IN_KEY });
      continue;
    }
    if (typeof current === 'string') {
      if (current.includes('\u0000'))
        problems.push({ field: pathOf(visit, root) || '(body)', reason: NUL_IN_TEXT });
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      problems.push({ field: pathOf(visit, root) || '(body)', reason: TOO_DEEP });
      continue;
    }
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--)
        stack.push({ value: current[i], parent: visit, key: String(i), depth: depth + 1, badKey: false });
      continue;
    }
    if (Buffer.isBuffer(current)) continue;
    const record = current as Record<string, unknown>;
    const keys = Object.keys(record);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      // Scalars other than strings hold nothing to refuse: not pushed at all.
      const inner = record[key];
      const badKey = key.includes('\u0000');
      if (!badKey && inner !== null && typeof inner !== 'object' && typeof inner !== 'string') continue;
      stack.push({ value: inner, parent: visit, key, depth: depth + 1, badKey });
    }
  }
  return problems.slice(0, MAX_PROBLEMS);
}

const HANDLER_CHECKS_BODY = 'tributary:handler-checks-body';

/**
 * Marks a controller (or route) whose handler checks its body itself with unstorableParts, e.g. a batch whose bad
 * items are rejected one by one; path parameters and the query string are still checked.
 */
export const HandlerChecksBody = () => SetMetadata(HANDLER_CHECKS_BODY, true);

/**
 * Refuses, before any handler runs, a request whose path parameters, query string or parsed body hold what no store
 * can take (400 with every field named). Runs after the guards, so an unauthenticated caller still gets 401 first.
 */
@Injectable()
export class RequestInputInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request>();
    const problems = [
      ...unstorableParts(req.params as unknown, 'path'),
      ...unstorableParts(req.query as unknown, 'query'),
    ];
    const handlerChecksBody = this.reflector.getAllAndOverride<boolean | undefined>(HANDLER_CHECKS_BODY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!handlerChecksBody) problems.push(...unstorableParts(req.body as unknown));
    if (problems.length > 0)
      throw new BadRequestException({ error: 'invalid_request', problems: problems.slice(0, MAX_PROBLEMS) });
    return next.handle();
  }
}
