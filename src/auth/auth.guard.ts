import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { ApiKeysRepository } from '../tenants/api-keys.repository';
import { apiKeyPrefix, hashMatches, secretsEqual } from './api-key';
import { AUTH_SCOPE, AuthenticatedRequest, AuthScope } from './auth.decorators';

function bearerToken(request: AuthenticatedRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Global guard: secure by default, every route is tenant-scoped unless marked otherwise. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeysRepository,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const scope =
      this.reflector.getAllAndOverride<AuthScope | undefined>(AUTH_SCOPE, [context.getHandler(), context.getClass()]) ??
      'tenant';
    if (scope === 'public') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request);
    if (!token) throw new UnauthorizedException('Missing bearer token in the Authorization header');

    if (scope === 'admin') {
      if (!secretsEqual(token, this.config.adminToken)) throw new UnauthorizedException('Invalid admin token');
      return true;
    }

    const prefix = apiKeyPrefix(token);
    const key = prefix ? await this.apiKeys.findActiveByPrefix(prefix) : null;
    if (!key || !hashMatches(token, key.hash)) throw new UnauthorizedException('Invalid API key');
    request.tenant = { tenantId: key.tenantId, tenantName: key.tenant?.name ?? '', apiKeyId: key.id };
    return true;
  }
}
