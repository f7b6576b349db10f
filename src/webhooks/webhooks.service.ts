import { Injectable, NotFoundException } from '@nestjs/common';
import { FineTunesRepository } from '../fine-tunes/fine-tunes.repository';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { generateWebhookSecret } from './webhook-signature';
import { WebhookDeliveryDto, WebhookDeliveryListDto, WebhookSecretDto } from './webhooks.dto';

function toDto(row: WebhookDeliveryEntity): WebhookDeliveryDto {
  return {
    id: row.id,
    event: row.event,
    eventKey: row.eventKey,
    url: row.url,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    nextAttemptAt: row.nextAttemptAt.toISOString(),
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
  };
}

@Injectable()
export class WebhooksService {
  constructor(
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly fineTunes: FineTunesRepository,
  ) {}

  async listFineTuneWebhookDeliveries(tenantId: string, fineTuneId: string): Promise<WebhookDeliveryListDto> {
    if (!(await this.fineTunes.findForTenant(tenantId, fineTuneId))) throw new NotFoundException(`Fine-tune ${fineTuneId} not found`);
    return { data: (await this.deliveries.listForFineTune(tenantId, fineTuneId)).map(toDto) };
  }

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
