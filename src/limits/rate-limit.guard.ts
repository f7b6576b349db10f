import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import type { AuthenticatedRequest } from '../auth/auth.decorators';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { RATE_LIMIT_BUCKET, RateLimitBucketName } from './rate-limit.decorator';
import { RateLimiter } from './rate-limiter.port';
import { TooManyRequestsException } from './too-many-requests.exception';

/**
 * Global guard after authentication: every tenant request takes a token from its API key's bucket
 * (RATE_LIMIT_PER_MINUTE), generations also from a stricter one (GENERATION_RATE_LIMIT_PER_MINUTE).
 * Public and admin routes are not limited here.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiter: RateLimiter,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const tenant = request.tenant;
    if (!tenant) return true;
    const { ratePerMinute, generationsPerMinute } = this.config.tenantLimits;
    const keyId = tenant.apiKeyId ?? tenant.tenantId;
    const limits: [RateLimitBucketName, number, string][] = [['requests', ratePerMinute, 'RATE_LIMIT_PER_MINUTE']];
    const bucket = this.reflector.get<RateLimitBucketName | undefined>(RATE_LIMIT_BUCKET, context.getHandler());
    if (bucket === 'generations') limits.push(['generations', generationsPerMinute, 'GENERATION_RATE_LIMIT_PER_MINUTE']);
    for (const [name, perMinute, setting] of limits) {
      if (perMinute <= 0) continue;
      const decision = await this.limiter.take(`${keyId}:${name}`, perMinute);
      if (!decision.allowed) {
        context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(decision.retryAfterS));
        throw new TooManyRequestsException(
          `Rate limit exceeded: ${perMinute} ${name === 'generations' ? 'generations' : 'requests'} per minute per API key (${setting}); retry in ${decision.retryAfterS} s`,
          decision.retryAfterS,
        );
      }
    }
    return true;
  }
}
