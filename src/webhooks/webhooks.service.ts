import { Injectable } from '@nestjs/common';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository';
import { generateWebhookSecret } from './webhook-signature';
import { WebhookSecretDto } from './webhooks.dto';

/** The tenant's signing secret. */
@Injectable()
export class WebhooksService {
  constructor(private readonly deliveries: WebhookDeliveriesRepository) {}

  async getWebhookSecret(tenantId: string): Promise<WebhookSecretDto> {
    const secret = await this.deliveries.findSecret(tenantId);
    if (secret) return { webhookSecret: secret };
    return this.rotateWebhookSecret(tenantId);
  }

  /** The new secret signs every delivery attempt from now on, pending retries included. */
  async rotateWebhookSecret(tenantId: string): Promise<WebhookSecretDto> {
    const webhookSecret = generateWebhookSecret();
    await this.deliveries.storeSecret(tenantId, webhookSecret);
    return { webhookSecret };
  }
}
