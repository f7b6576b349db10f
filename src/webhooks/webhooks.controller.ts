import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentTenant, TenantContext, TenantScoped } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../http/error-response.dto';
import { ApiIdParam, IdParam } from '../http/id-param';
import { WebhookDeliveryListDto, WebhookSecretDto } from './webhooks.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@TenantScoped()
@Controller('v1')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Get('fine-tunes/:id/webhook-deliveries')
  @ApiOperation({ summary: 'Webhook deliveries of a fine-tune: events, attempts, last answer' })
  @ApiIdParam('Fine-tune id')
  @ApiOkResponse({ type: WebhookDeliveryListDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  listFineTuneWebhookDeliveries(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<WebhookDeliveryListDto> {
    return this.webhooks.listFineTuneWebhookDeliveries(tenant.tenantId, id);
  }

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
