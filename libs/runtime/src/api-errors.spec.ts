import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  NotFoundException,
  PayloadTooLargeException,
} from '@nestjs/common';
import { toApiError } from './api-errors';

describe('toApiError', () => {
  it('keeps our own bodies, adding problems from field/reason or errors where they lack them', () => {
    const listed = { error: 'invalid_request', problems: [{ field: 'event', reason: 'Required' }] };
    expect(toApiError(new BadRequestException(listed))).toEqual({
      status: 400,
      body: listed,
      unexpected: false,
    });
    expect(
      toApiError(
        new ForbiddenException({ error: 'forbidden', field: 'authorization', reason: 'missing scope: x' }),
      ).body,
    ).toEqual({
      error: 'forbidden',
      field: 'authorization',
      reason: 'missing scope: x',
      problems: [{ field: 'authorization', reason: 'missing scope: x' }],
    });
    expect(
      toApiError(
        new BadRequestException({
          error: 'invalid_scoring_model',
          errors: [{ field: 'fit', reason: 'bad' }],
        }),
      ).body,
    ).toEqual({
      error: 'invalid_scoring_model',
      errors: [{ field: 'fit', reason: 'bad' }],
      problems: [{ field: 'fit', reason: 'bad' }],
    });
  });

  it("replaces Nest's default bodies, which repeat the request, with a generic reason", () => {
    const notFound = toApiError(new NotFoundException('Cannot GET /v1/ECHO'));
    expect(notFound).toEqual({
      status: 404,
      body: { error: 'not_found', problems: [{ field: '(request)', reason: 'no such route or resource' }] },
      unexpected: false,
    });
    const parseFailure = new BadRequestException('Unexpected token E in JSON: "ECHO"', {
      cause: { type: 'entity.parse.failed' },
    });
    expect(toApiError(parseFailure).body).toEqual({
      error: 'bad_request',
      problems: [{ field: '(request)', reason: 'body is not valid JSON (or not the declared content type)' }],
    });
    expect(JSON.stringify(toApiError(new PayloadTooLargeException('ECHO')).body)).not.toContain('ECHO');
  });

  it("answers body-parser's own errors by their type and status", () => {
    const tooLarge = Object.assign(new Error('request entity too large'), {
      status: 413,
      type: 'entity.too.large',
    });
    expect(toApiError(tooLarge)).toEqual({
      status: 413,
      body: {
        error: 'payload_too_large',
        problems: [{ field: '(request)', reason: 'request body is too large' }],
      },
      unexpected: false,
    });
  });

  it('answers anything unexpected 500 without its message, quoting the request id', () => {
    const answer = toApiError(new RangeError('Maximum call stack size exceeded at ECHO'), 'req-42');
    expect(answer).toEqual({
      status: 500,
      body: {
        error: 'internal_error',
        problems: [
          { field: '(service)', reason: 'unexpected error; quote request id req-42 when reporting it' },
        ],
      },
      unexpected: true,
    });
    expect(toApiError(new HttpException('boom', 503)).unexpected).toBe(true);
  });
});
