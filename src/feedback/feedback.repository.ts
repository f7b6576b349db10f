import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, Repository } from 'typeorm';
import { FeedbackSignalEntity } from './feedback-signal.entity';

/** Every method takes the tenant id: another tenant's signals simply do not exist. */
@Injectable()
export class FeedbackRepository {
  private lastTimestamp = 0;

  constructor(@InjectRepository(FeedbackSignalEntity) private readonly signals: Repository<FeedbackSignalEntity>) {}

  add(signal: Pick<FeedbackSignalEntity, 'id' | 'tenantId' | 'generationId' | 'imageIndex' | 'signal'>): Promise<FeedbackSignalEntity> {
    // Strictly increasing times: "liked, then discarded" keeps its order even within one millisecond.
    const now = Math.max(Date.now(), this.lastTimestamp + 1);
    this.lastTimestamp = now;
    return this.signals.save(this.signals.create({ ...signal, createdAt: new Date(now), consumedAt: null }));
  }

  listForGeneration(tenantId: string, generationId: string): Promise<FeedbackSignalEntity[]> {
    return this.signals.find({ where: { tenantId, generationId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** Every signal of the tenant, oldest first. */
  listForTenant(tenantId: string): Promise<FeedbackSignalEntity[]> {
    return this.signals.find({ where: { tenantId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** Records that a training dataset has taken these signals' images. */
  async markConsumed(tenantId: string, ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.signals.update({ tenantId, id: In(ids.slice(i, i + 500)), consumedAt: IsNull() }, { consumedAt: new Date() });
    }
  }
}
