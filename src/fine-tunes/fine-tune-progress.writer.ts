import { Logger } from '@nestjs/common';
import type { FineTuneProgress } from '../engine';
import { WebhookOutboxService } from '../webhooks/webhook-outbox.service';
import { FineTuneEntity } from './fine-tune.entity';
import { toFineTuneWebhook } from './fine-tune.mapper';
import { milestonesBetween } from './fine-tune-webhooks';
import { FineTunesRepository } from './fine-tunes.repository';

/** Progress is written at most this often (and at the first and last step). */
const PROGRESS_WRITE_MS = 500;

/** JSON has no NaN or Infinity: a metric that is not a number is recorded as null. */
export function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** The metrics of a progress report as the job's row stores them. */
export function progressMetrics(p: FineTuneProgress): Record<string, number | null> {
  return {
    loss: finiteOrNull(p.loss),
    expertDiff: finiteOrNull(p.expertDiff),
    policyDiff: finiteOrNull(p.policyDiff),
    activeFraction: finiteOrNull(p.activeFraction),
    gradNorm: finiteOrNull(p.gradNorm),
    stepsPerSecond: finiteOrNull(p.stepsPerSecond),
    elapsedSeconds: finiteOrNull(p.elapsedSeconds),
  };
}

/**
 * Throttled, ordered progress writes of one running job, with the progress webhooks of the
 * milestones each write crosses: training never waits on the database.
 */
export class FineTuneProgressWriter {
  private latestReport?: FineTuneProgress;
  private written = 0;
  private lastWrite = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly job: FineTuneEntity,
    private readonly workerId: string,
    private readonly fineTunes: FineTunesRepository,
    private readonly webhooks: WebhookOutboxService,
    private readonly logger: Logger,
  ) {}

  /** The trainer's onProgress: the first and last steps are written at once, the others at most every PROGRESS_WRITE_MS. */
  readonly report = (p: FineTuneProgress): void => {
    this.latestReport = p;
    if (p.step === 1 || p.step >= p.totalSteps || Date.now() - this.lastWrite >= PROGRESS_WRITE_MS) void this.write();
    else this.timer ??= setTimeout(() => void this.write(), PROGRESS_WRITE_MS);
  };

  /** Writes the latest report, if any is unwritten, and waits for every write so far. */
  async flush(): Promise<void> {
    await this.write();
  }

  /** The metrics of the latest report ({} before the first step). */
  latest(): Record<string, number | null> {
    return this.latestReport ? progressMetrics(this.latestReport) : {};
  }

  private write(): Promise<unknown> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.latestReport;
    if (!p || p.step === this.written) return this.chain;
    const milestones = milestonesBetween(this.written, p.step, p.totalSteps);
    this.written = p.step;
    this.lastWrite = Date.now();
    const { job, workerId } = this;
    const metrics = progressMetrics(p);
    this.chain = this.chain
      .then(() => this.fineTunes.recordProgress(job.id, workerId, p.step, p.totalSteps, metrics))
      .then(async () => {
        for (const milestone of milestones) await this.webhooks.emit(toFineTuneWebhook({ ...job, step: p.step, totalSteps: p.totalSteps, metrics }, 'fine_tune.progress', milestone));
      })
      .catch((error) => this.logger.warn(`progress write failed: ${error}`));
    return this.chain;
  }
}
