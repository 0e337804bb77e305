import { Catch, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { throwError, type Observable } from 'rxjs';

/**
 * Nest's default RPC filter turns every handler error into `{status:'error'}`, losing its type. The Kafka transport
 * needs the original error to choose between retry, dead letter and pause, so for RPC contexts this filter passes
 * it through; HTTP errors get Nest's usual treatment.
 */
@Catch()
export class RethrowToTransportFilter extends BaseExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): Observable<never> | void {
    if (host.getType() === 'rpc') return throwError(() => exception);
    return super.catch(exception, host);
  }
}
