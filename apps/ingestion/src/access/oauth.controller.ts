import { Body, Controller, Get, Headers, HttpCode, Inject, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import { Catch } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import {
  AUTH_FAILURES,
  applyRateLimitDecision,
  clientAddress,
  refuseThrottledAddress,
  type AuthFailureThrottle,
} from '@tributary/access';
import { OAuthError, OAuthTokenExchange, type TokenResponse } from './oauth-token.service';
import { SigningKeyring } from './signing-keys';

/** Renders OAuthError as RFC 6749 §5.2 JSON (`error`, `error_description`). */
@Catch(OAuthError)
class OAuthErrorFilter implements ExceptionFilter {
  catch(error: OAuthError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    res.setHeader('Cache-Control', 'no-store');
    if (error.status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="tributary", charset="UTF-8"');
    res.status(error.status).json({ error: error.error, error_description: error.description });
  }
}

/** OAuth2 client credentials: the token endpoint and the public keys that verify its tokens. */
@ApiTags('oauth')
@Controller()
export class OAuthController {
  constructor(
    private readonly exchange: OAuthTokenExchange,
    private readonly keyring: SigningKeyring,
    @Inject(AUTH_FAILURES) private readonly failures: AuthFailureThrottle,
  ) {}

  @Post('v1/oauth/token')
  @HttpCode(200)
  @UseFilters(OAuthErrorFilter)
  @ApiOperation({
    summary: 'Issue an access token (client_credentials)',
    description:
      'Form or JSON body: grant_type=client_credentials, optional scope (subset of the client’s); client_id and ' +
      'client_secret via HTTP Basic or the body. Returns a short-lived ES256 JWT to send as `Bearer`.',
  })
  async token(
    @Headers('authorization') authorization: string | undefined,
    @Body() body: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TokenResponse | undefined> {
    // An address that sent too many wrong client secrets is answered 429 before any client is looked up.
    const address = clientAddress(req);
    refuseThrottledAddress(this.failures, address, res);
    const { rateLimit, token } = await this.exchange.exchange(authorization, body, address);
    applyRateLimitDecision(res, rateLimit);
    res.setHeader('Cache-Control', 'no-store');
    return token;
  }

  @Get('.well-known/jwks.json')
  @ApiOperation({ summary: 'Public keys verifying access tokens (JWK Set)' })
  async jwks(@Res({ passthrough: true }) res: Response): Promise<{ keys: object[] }> {
    // Short max-age: verifiers must see a rotation within a minute.
    res.setHeader('Cache-Control', 'public, max-age=60');
    return this.keyring.jwks();
  }
}
