import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { throwError, type Observable } from 'rxjs';
import { currentRequestId, type Logger } from '@tributary/observability';
import { toApiError } from './api-errors';

/**
 * Every service's last word on an error.
 * - RPC (Kafka handlers): the original error passes through, since the transport chooses between retry, dead
 *   letter and pause by its type (Nest's default would flatten it to `{status:'error'}`).
 * - HTTP: the API's `{error, problems}` body, never Nest's default (which echoes the request) nor a stack; an
 *   unexpected error is logged with its request id and answered 500 without its message.
 */
@Catch()
export class ServiceErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): Observable<never> | void {
    if (host.getType() === 'rpc') return throwError(() => exception);
    const requestId = currentRequestId();
    const { status, body, unexpected } = toApiError(exception, requestId);
    if (unexpected) this.logger.error({ err: exception, requestId, status }, 'request failed unexpectedly');
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    res.status(status).json(body);
  }
}
