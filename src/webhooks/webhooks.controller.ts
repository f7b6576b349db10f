import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentTenant, TenantContext, TenantScoped } from '../auth/auth.decorators';
import { WebhookSecretDto } from './webhooks.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@TenantScoped()
@Controller('v1')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Get('webhooks/secret')
  @ApiOperation({ summary: 'Your webhook signing secret' })
  @ApiOkResponse({ type: WebhookSecretDto })
  getWebhookSecret(@CurrentTenant() tenant: TenantContext): Promise<WebhookSecretDto> {
    return this.webhooks.getWebhookSecret(tenant.tenantId);
  }

  @Post('webhooks/secret/rotate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Replace your webhook signing secret (the old one stops at once)' })
  @ApiOkResponse({ type: WebhookSecretDto })
  rotateWebhookSecret(@CurrentTenant() tenant: TenantContext): Promise<WebhookSecretDto> {
    return this.webhooks.rotateWebhookSecret(tenant.tenantId);
  }
}
