import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { AdaptersRepository } from '../adapters/adapters.repository';
import { AdapterRegistrar } from '../adapters/adapter.registrar';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { DatasetsRepository } from '../datasets/datasets.repository';
import { CheckpointStore, fineTune, FineTuneResult } from '../engine';
import { ClaimedFineTune, FineTuneQueue } from '../queue/fine-tune-queue.port';
import { StoragePort } from '../storage/storage.port';
import { fineTuneAdapterKey, fineTuneCheckpointPrefix, fineTunePreviewKey } from '../storage/storage-keys';
import { storageCheckpointFiles } from './storage-checkpoint-files';
import { WebhookOutboxService } from '../webhooks/webhook-outbox.service';
import { FineTuneEntity, FineTunePreviewInfo } from './fine-tune.entity';
import { FineTuneControl, InterruptReason } from './fine-tune-control';
import { FineTuneJobError } from './fine-tune-job.error';
import { PREVIEW_SAMPLING, renderPreview } from './fine-tune-preview';
import { finiteOrNull, FineTuneProgressWriter } from './fine-tune-progress.writer';
import { toFineTuneWebhook } from './fine-tune.mapper';
import { FineTuneWebhookEvent } from './fine-tune-webhooks';
import { FineTunesRepository } from './fine-tunes.repository';
import { TrainingInputsLoader } from './training-inputs.loader';

export type FineTuneJobOutcome = 'succeeded' | 'failed' | 'canceled' | 'requeued' | 'lost';

/**
 * Runs one claimed fine-tune in the worker process: loads the base model and the dataset's training
 * copies, trains with checkpoints (a restarted worker resumes), keeps the lease alive, watches for
 * cancellation, and registers the resulting adapter exactly once.
 */
@Injectable()
export class FineTuneJobProcessor {
  private readonly logger = new Logger('FineTuneJob');
  private readonly inputs: TrainingInputsLoader;

  constructor(
    private readonly fineTunes: FineTunesRepository,
    private readonly datasets: DatasetsRepository,
    private readonly adapters: AdaptersRepository,
    private readonly registrar: AdapterRegistrar,
    private readonly storage: StoragePort,
    private readonly queue: FineTuneQueue,
    private readonly webhooks: WebhookOutboxService,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
    @Optional() private readonly metrics?: WorkerMetrics,
  ) {
    this.inputs = new TrainingInputsLoader(datasets, adapters, storage, config);
  }

  /** `stop` aborts for a worker shutdown: the job goes back to the queue with its checkpoint. */
  async run(claim: ClaimedFineTune, workerId: string, stop?: AbortSignal): Promise<FineTuneJobOutcome> {
    const job = await this.fineTunes.findHeld(claim.id, workerId);
    if (!job) return 'lost';
    if (job.cancelRequested) {
      await this.fineTunes.markCanceled(job.id, workerId, job.step);
      await this.notify(job.id, 'fine_tune.canceled');
      return 'canceled';
    }
    // Recorded once per job: a resumed run repeats it and the outbox keeps the first.
    await this.webhooks.emit(toFineTuneWebhook(job, 'fine_tune.started'));
    this.logger.log(`Fine-tune ${job.id} (${job.method}, ${job.totalSteps} steps) started, attempt ${claim.attempt}`);
    const checkpoints = new CheckpointStore(storageCheckpointFiles(this.storage, fineTuneCheckpointPrefix(job.tenantId, job.id)));
    let resumedFromStep = 0;
    if (claim.attempt > 1) {
      // A previous holder killed mid-write left partial files; this worker holds the job now, so they are orphans.
      await this.discardPartialWrites(job, checkpoints);
      resumedFromStep = await checkpoints.savedStep();
      this.logger.log(`Fine-tune ${job.id} resumes from its checkpoint at step ${resumedFromStep}`);
    }

    const control = new FineTuneControl(job.id, workerId, this.config.worker.leaseMs, this.queue, this.fineTunes, this.logger, stop, (r) => this.metrics?.leaseRenewal(r));
    const progress = new FineTuneProgressWriter(job, workerId, this.fineTunes, this.webhooks, this.logger);
    try {
      const result = await this.train(job, checkpoints, control.signal, progress.report);
      await progress.flush();
      const reason = control.reason;
      if (reason === 'lost') return 'lost';
      // A cancel request wins even over a run that just finished; a shutdown only interrupts an unfinished one.
      if (reason === 'cancel') return await this.endInterrupted(job, workerId, 'cancel', result.steps);
      if (result.canceled) return await this.endInterrupted(job, workerId, 'stop', result.steps);
      const { recommendedScale } = result;
      const adapterId = await this.registerAdapter(job, result, recommendedScale);
      const preview = await this.storePreview(job, result, recommendedScale);
      const metrics = { ...progress.latest(), resumedFromStep, finalLoss: finiteOrNull(result.metrics.finalLoss), meanLossLast10: finiteOrNull(result.metrics.meanLossLast10), seconds: result.seconds };
      if (!(await this.fineTunes.markSucceeded(job.id, workerId, adapterId, result.steps, metrics, preview))) return 'lost';
      this.logger.log(`Fine-tune ${job.id} succeeded in ${result.seconds.toFixed(1)} s: adapter ${adapterId}`);
      await this.notify(job.id, 'fine_tune.succeeded');
      return 'succeeded';
    } catch (error) {
      await progress.flush().catch(() => undefined);
      const reason = control.reason;
      if (reason) return this.endInterrupted(job, workerId, reason, job.step);
      const message = error instanceof FineTuneJobError ? error.message : `training failed: ${(error as Error)?.message ?? String(error)}`;
      this.logger.error(`Fine-tune ${job.id} failed: ${message}`);
      await this.removeCheckpoint(job);
      if (await this.fineTunes.markFailed(job.id, workerId, message.slice(0, 2000))) await this.notify(job.id, 'fine_tune.failed');
      return 'failed';
    } finally {
      control.close();
    }
  }

  private async endInterrupted(job: FineTuneEntity, workerId: string, reason: InterruptReason, step: number): Promise<FineTuneJobOutcome> {
    if (reason === 'lost') return 'lost';
    if (reason === 'stop') {
      // Shutting down: another worker (or this one after a restart) resumes from the checkpoint.
      if (!(await this.queue.requeue(job.id, workerId))) return 'lost';
      this.logger.log(`Fine-tune ${job.id} handed back to the queue at step ${step}; it resumes from its checkpoint`);
      return 'requeued';
    }
    // Checkpoints go first: once the row says canceled, nothing of the job is left behind.
    await this.removeCheckpoint(job);
    if (!(await this.fineTunes.markCanceled(job.id, workerId, step))) return 'lost';
    await this.notify(job.id, 'fine_tune.canceled');
    this.logger.log(`Fine-tune ${job.id} canceled at step ${step}`);
    return 'canceled';
  }

  private async train(job: FineTuneEntity, checkpoints: CheckpointStore, signal: AbortSignal, onProgress: FineTuneProgressWriter['report']): Promise<FineTuneResult> {
    const model = await this.inputs.model(job.baseModel);
    const demonstrations = await this.inputs.demonstrations(job, model);
    const init = await this.inputs.initialAdapter(job, model);
    // Stopped or canceled while loading: no need to build the training sessions first.
    if (signal.aborted) throw new Error('interrupted before training started');
    return fineTune({
      model,
      demonstrations,
      method: job.method,
      // As validated and stored by the API, `targets` (which layers the LoRA adapts) included when given.
      hyperparameters: job.hyperparameters,
      initAdapter: init?.adapter,
      initOptimizerState: init?.optimizerState,
      checkpoints,
      checkpointEvery: this.config.worker.checkpointEvery,
      resume: true,
      signal,
      onProgress: (p) => {
        this.metrics?.progress(p);
        onProgress(p);
      },
      onTiming: (what, seconds) => (what === 'checkpoint' ? this.metrics?.checkpointWritten(seconds) : this.metrics?.policySampled(seconds)),
      intraOpThreads: this.config.worker.threads,
    });
  }

  /** What a killed previous run of the job left half-written: checkpoint temporaries, the adapter's and preview's. */
  private async discardPartialWrites(job: FineTuneEntity, checkpoints: CheckpointStore): Promise<void> {
    await checkpoints.discardPartialWrites();
    await this.storage.discardPartialWrites(fineTuneAdapterKey(job.tenantId, job.id));
    await this.storage.discardPartialWrites(fineTunePreviewKey(job.tenantId, job.id));
  }

  private async removeCheckpoint(job: FineTuneEntity): Promise<void> {
    await this.storage.deletePrefix(fineTuneCheckpointPrefix(job.tenantId, job.id));
  }

  /**
   * Renders and stores the validation preview. Never fails the job: a generation or storage error is
   * logged and recorded as an unavailable preview, and the adapter stays registered.
   */
  private async storePreview(job: FineTuneEntity, result: FineTuneResult, scale: number): Promise<FineTunePreviewInfo> {
    const started = Date.now();
    const unavailable = (error: unknown): FineTunePreviewInfo => {
      const message = (error as Error)?.message ?? String(error);
      this.logger.warn(`Fine-tune ${job.id}: preview unavailable: ${message}`);
      return { status: 'unavailable', storageKey: null, prompts: [], seeds: [], scale, ...PREVIEW_SAMPLING, conceptTop5: null, fidelity: null, error: message.slice(0, 500) };
    };
    try {
      const images = job.datasetId ? await this.datasets.listImages(job.tenantId, job.datasetId) : [];
      const { png, info } = await renderPreview({
        model: await this.inputs.model(job.baseModel),
        baseModel: job.baseModel,
        adapter: result.adapter,
        scale,
        stylePhrase: job.stylePhrase,
        datasetCaptions: images.map((image) => image.caption ?? ''),
        modelsDir: this.config.modelsDir,
        intraOpThreads: this.config.worker.threads,
        memoryBudgetBytes: this.config.generation.memoryBudgetBytes,
        onScorerError: (error) => this.logger.warn(`Fine-tune ${job.id}: preview not scored: ${error.message}`),
      });
      const storageKey = fineTunePreviewKey(job.tenantId, job.id);
      await this.storage.put(storageKey, png);
      this.logger.log(`Fine-tune ${job.id}: preview stored in ${Date.now() - started} ms`);
      return { status: 'available', storageKey, ...info, error: null };
    } catch (error) {
      return unavailable(error);
    }
  }

  /** Writes the adapter file (same key on every run of the job) and registers it once. */
  private async registerAdapter(job: FineTuneEntity, result: FineTuneResult, recommendedScale: number): Promise<string> {
    const dataset = job.datasetId ? await this.datasets.findForTenant(job.tenantId, job.datasetId) : null;
    const name = `${dataset?.name ?? 'dataset'} (${job.method} ${job.id.slice(0, 8)})`.slice(0, 200);
    const adapter = result.adapter;
    adapter.metadata = {
      ...adapter.metadata,
      base_model: job.baseModel,
      fine_tune_id: job.id,
      name,
      recommended_scale: String(recommendedScale),
      ...(job.stylePhrase ? { style_phrase: job.stylePhrase } : {}),
    };
    const row = await this.registrar.register({
      tenantId: job.tenantId,
      name,
      source: 'fine-tune',
      fineTuneId: job.id,
      baseModel: job.baseModel,
      adapter,
      stylePhrase: job.stylePhrase,
      recommendedScale,
      storageKey: fineTuneAdapterKey(job.tenantId, job.id),
    });
    return row.id;
  }

  /** Records a state-change webhook with the row as it now is. */
  async notify(jobId: string, event: FineTuneWebhookEvent): Promise<void> {
    const row = await this.fineTunes.findById(jobId);
    if (row) await this.webhooks.emit(toFineTuneWebhook(row, event));
  }
}
