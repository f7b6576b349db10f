import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Brackets, IsNull, LessThan, LessThanOrEqual, Repository } from 'typeorm';
import { TenantEntity } from '../tenants/tenant.entity';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';

export type NewWebhookDelivery = Pick<WebhookDeliveryEntity, 'id' | 'tenantId' | 'subjectId' | 'event' | 'eventKey' | 'url' | 'payload'>;

/** The webhook outbox and each tenant's signing secret. */
@Injectable()
export class WebhookDeliveriesRepository {
  constructor(
    @InjectRepository(WebhookDeliveryEntity) private readonly deliveries: Repository<WebhookDeliveryEntity>,
    @InjectRepository(TenantEntity) private readonly tenants: Repository<TenantEntity>,
  ) {}

  /** Records an event once per subject and key (a resumed job repeats events; the unique index keeps the first). */
  async recordOnce(delivery: NewWebhookDelivery): Promise<void> {
    const now = new Date();
    await this.deliveries
      .createQueryBuilder()
      .insert()
      .into(WebhookDeliveryEntity)
      .values({ ...delivery, status: 'pending', attempts: 0, nextAttemptAt: now, lockedUntil: null, lastStatusCode: null, lastError: null, createdAt: now, deliveredAt: null })
      .orIgnore()
      .execute();
  }

  listForSubject(tenantId: string, subjectId: string): Promise<WebhookDeliveryEntity[]> {
    return this.deliveries.find({ where: { tenantId, subjectId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** Takes up to `limit` due deliveries for this loop: each one is claimed by a guarded UPDATE, so replicas never send one twice at once. */
  async claimDue(lockMs: number, limit: number): Promise<WebhookDeliveryEntity[]> {
    const now = new Date();
    const due = await this.deliveries.find({
      select: { id: true },
      where: [
        { status: 'pending', nextAttemptAt: LessThanOrEqual(now), lockedUntil: IsNull() },
        { status: 'pending', nextAttemptAt: LessThanOrEqual(now), lockedUntil: LessThan(now) },
      ],
      order: { nextAttemptAt: 'ASC' },
      take: limit,
    });
    const claimed: WebhookDeliveryEntity[] = [];
    for (const { id } of due) {
      const result = await this.deliveries
        .createQueryBuilder()
        .update(WebhookDeliveryEntity)
        .set({ lockedUntil: new Date(now.getTime() + lockMs), attempts: () => 'attempts + 1' })
        .where('id = :id', { id })
        .andWhere("status = 'pending'")
        .andWhere(new Brackets((qb) => qb.where('locked_until IS NULL').orWhere('locked_until < :now', { now })))
        .execute();
      if (result.affected) claimed.push(await this.deliveries.findOneByOrFail({ id }));
    }
    return claimed;
  }

  async markDelivered(id: string, statusCode: number): Promise<void> {
    await this.deliveries.update({ id }, { status: 'delivered', lastStatusCode: statusCode, lastError: null, lockedUntil: null, deliveredAt: new Date() });
  }

  async scheduleRetry(id: string, statusCode: number | null, error: string, nextAttemptAt: Date): Promise<void> {
    await this.deliveries.update({ id }, { lastStatusCode: statusCode, lastError: error.slice(0, 2000), lockedUntil: null, nextAttemptAt });
  }

  async markFailed(id: string, statusCode: number | null, error: string): Promise<void> {
    await this.deliveries.update({ id }, { status: 'failed', lastStatusCode: statusCode, lastError: error.slice(0, 2000), lockedUntil: null });
  }

  async findSecret(tenantId: string): Promise<string | null> {
    return (await this.tenants.findOne({ select: { id: true, webhookSecret: true }, where: { id: tenantId } }))?.webhookSecret ?? null;
  }

  async storeSecret(tenantId: string, secret: string): Promise<void> {
    await this.tenants.update({ id: tenantId }, { webhookSecret: secret });
  }
}
