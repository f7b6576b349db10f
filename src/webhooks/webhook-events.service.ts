import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { FineTuneEntity } from '../fine-tunes/fine-tune.entity';
import { toFineTuneDto } from '../fine-tunes/fine-tune.mapper';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository';
import { WebhookEvent } from './webhook-delivery.entity';

/** Progress events at these shares of the job's steps. */
export const PROGRESS_MILESTONES = [25, 50, 75];

/**
 * Turns fine-tune state changes into outbox rows (only for jobs with a webhookUrl). Recording never
 * fails the job: a database hiccup here costs an event, not the training.
 */
@Injectable()
export class WebhookEventsService {
  private readonly logger = new Logger('WebhookEvents');

  constructor(private readonly deliveries: WebhookDeliveriesRepository) {}

  async emit(job: FineTuneEntity, event: WebhookEvent, milestone?: number): Promise<void> {
    if (!job.webhookUrl) return;
    const id = randomUUID();
    const payload = JSON.stringify({
      id,
      type: event,
      createdAt: new Date().toISOString(),
      ...(milestone !== undefined ? { milestone } : {}),
      data: { fineTune: toFineTuneDto(job) },
    });
    try {
      await this.deliveries.recordOnce({
        id,
        tenantId: job.tenantId,
        fineTuneId: job.id,
        event,
        eventKey: milestone !== undefined ? `${event}:${milestone}` : event,
        url: job.webhookUrl,
        payload,
      });
    } catch (error) {
      this.logger.warn(`recording ${event} for fine-tune ${job.id} failed: ${error}`);
    }
  }

  /** Milestones crossed between two step counts (a resumed job starts from its checkpoint's step). */
  static milestonesBetween(fromStep: number, toStep: number, totalSteps: number): number[] {
    if (totalSteps <= 0) return [];
    return PROGRESS_MILESTONES.filter((m) => fromStep * 100 < m * totalSteps && toStep * 100 >= m * totalSteps);
  }
}
