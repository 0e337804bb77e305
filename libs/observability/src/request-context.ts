import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line written while serving one HTTP request should carry. */
export interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` (and everything it awaits) with the request's context, so logs and audit entries can name it. */
export function runWithRequestContext<T>(requestContext: RequestContext, fn: () => T): T {
  return storage.run(requestContext, fn);
}

/** The id of the HTTP request being served, when there is one. */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}
