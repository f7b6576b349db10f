import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { FineTuneJobOutcome, FineTuneJobProcessor } from '../fine-tunes/fine-tune.job';
import { FineTuneQueue, MAX_FINE_TUNE_ATTEMPTS } from '../queue/fine-tune-queue.port';
import { WorkerMetrics } from '../metrics/worker-metrics';

/**
 * The worker loop: recover jobs whose worker vanished, claim the oldest queued job, train it, repeat;
 * sleep between polls when idle (a `wake()` cuts the sleep short). One job at a time per process.
 */
@Injectable()
export class FineTuneWorker {
  /** Unique per process; the embedded supervisor passes its own so it can release a dead child's jobs. */
  readonly workerId = process.env.WORKER_ID?.trim() || `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly logger = new Logger('FineTuneWorker');
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  private wakeUp?: () => void;

  constructor(
    private readonly queue: FineTuneQueue,
    private readonly processor: FineTuneJobProcessor,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
    private readonly metrics: WorkerMetrics,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Look for work now instead of at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops after handing a running job back to the queue (it resumes from its checkpoint). */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake();
    await this.loop;
  }

  /** Recovers expired leases, then claims and runs at most one job. */
  async runOnce(): Promise<{ jobId: string; outcome: FineTuneJobOutcome } | null> {
    const recovered = await this.queue.recoverExpired(MAX_FINE_TUNE_ATTEMPTS);
    for (const id of recovered.requeued) this.logger.warn(`Fine-tune ${id}: its worker stopped renewing the lease; back in the queue`);
    for (const id of recovered.canceled) await this.processor.notify(id, 'fine_tune.canceled');
    for (const id of recovered.failed) await this.processor.notify(id, 'fine_tune.failed');
    const claim = await this.queue.claim(this.workerId, this.config.worker.leaseMs);
    if (!claim) return null;
    let outcome: FineTuneJobOutcome;
    this.metrics.jobStarted();
    try {
      outcome = await this.processor.run(claim, this.workerId, this.stopping.signal);
    } catch (error) {
      this.metrics.jobEnded('failed');
      throw error;
    } finally {
      // A requeued job was handed back already; any other outcome ends this delivery.
      if (outcome! !== 'requeued') await this.queue.complete(claim.id, this.workerId).catch(() => undefined);
    }
    this.metrics.jobEnded(outcome);
    return { jobId: claim.id, outcome };
  }

  private async run(): Promise<void> {
    this.logger.log(`Worker ${this.workerId} polling for fine-tunes`);
    while (!this.stopping.signal.aborted) {
      try {
        if (await this.runOnce()) continue;
      } catch (error) {
        this.logger.error(`worker loop: ${(error as Error)?.stack ?? error}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.config.worker.pollMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }
}
