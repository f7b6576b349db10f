import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Request } from 'express';
import { ErrorResponseDto } from '../http/error-response.dto';

export type AuthScope = 'public' | 'admin' | 'tenant';
export const AUTH_SCOPE = 'saas:auth-scope';

/** The tenant a request acts for; every tenant-owned query is scoped by it. */
export interface TenantContext {
  tenantId: string;
  tenantName: string;
  /** The API key used (rate limits are per key); absent for contexts built outside a request. */
  apiKeyId?: string;
}

export type AuthenticatedRequest = Request & { tenant?: TenantContext };

/** No credentials needed (health, docs). */
export const Public = () => SetMetadata(AUTH_SCOPE, 'public');

/** Operator endpoints: the ADMIN_TOKEN bearer. */
export const AdminOnly = () =>
  applyDecorators(
    SetMetadata(AUTH_SCOPE, 'admin'),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing or wrong admin token', type: ErrorResponseDto }),
  );

/** Tenant endpoints (the default for any route without a scope): a tenant API key bearer. */
export const TenantScoped = () =>
  applyDecorators(
    SetMetadata(AUTH_SCOPE, 'tenant'),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing or invalid API key', type: ErrorResponseDto }),
  );

export const CurrentTenant = createParamDecorator((_data: unknown, context: ExecutionContext): TenantContext => {
  const tenant = context.switchToHttp().getRequest<AuthenticatedRequest>().tenant;
  if (!tenant) throw new Error('CurrentTenant used on a route without tenant authentication');
  return tenant;
});
