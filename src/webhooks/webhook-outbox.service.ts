import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhookEnvelope } from './webhook-envelope';
import { WebhookDeliveryDto } from './webhooks.dto';

function toDeliveryDto(row: WebhookDeliveryEntity): WebhookDeliveryDto {
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

/**
 * The webhook outbox as features see it: they record envelopes and read a subject's delivery log;
 * the delivery loop sends what is recorded. Recording never fails the caller: a database hiccup here
 * costs an event, not the work that raised it.
 */
@Injectable()
export class WebhookOutboxService {
  private readonly logger = new Logger('WebhookOutbox');

  constructor(private readonly deliveries: WebhookDeliveriesRepository) {}

  /** Records the event once per subject, type and milestone (a repeat, e.g. from a resumed job, keeps the first). */
  async emit(envelope: WebhookEnvelope): Promise<void> {
    const { tenantId, url, event, subjectId, milestone, data } = envelope;
    if (!url) return;
    const id = randomUUID();
    const payload = JSON.stringify({ id, type: event, createdAt: new Date().toISOString(), ...(milestone !== undefined ? { milestone } : {}), data });
    try {
      await this.deliveries.recordOnce({ id, tenantId, subjectId, event, eventKey: milestone !== undefined ? `${event}:${milestone}` : event, url, payload });
    } catch (error) {
      this.logger.warn(`recording ${event} for ${subjectId} failed: ${error}`);
    }
  }

  /** The deliveries of a subject's events, oldest first; the caller has checked the subject is the tenant's. */
  async listDeliveries(tenantId: string, subjectId: string): Promise<WebhookDeliveryDto[]> {
    return (await this.deliveries.listForSubject(tenantId, subjectId)).map(toDeliveryDto);
  }
}
