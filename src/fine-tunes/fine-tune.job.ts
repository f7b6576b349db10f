import { Inject, Injectable, Logger } from '@nestjs/common';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AdaptersRepository } from '../adapters/adapters.repository';
import { AdapterRegistrar } from '../adapters/adapter.registrar';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { DatasetsRepository } from '../datasets/datasets.repository';
import { Demonstration, fineTune, FineTuneProgress, FineTuneResult, type LoraAdapter, type ModuleShape, parseLoraAdapter, DiffusionModel, loadDiffusionModel, adaptableModules, loraModuleShapes as moduleShapesOf, decodeImageToChw, type AdamWState, CheckpointStore } from '../engine';
import { ClaimedFineTune, FineTuneQueue } from '../queue/fine-tune-queue.port';
import { StoragePort } from '../storage/storage.port';
import { WebhookEvent } from '../webhooks/webhook-delivery.entity';
import { WebhookEventsService } from '../webhooks/webhook-events.service';
import { FineTuneEntity, FineTunePreviewInfo } from './fine-tune.entity';
import { PREVIEW_SAMPLING, renderPreview } from './fine-tune-preview';
import { FineTunesRepository } from './fine-tunes.repository';
import { withStylePhrase } from './style-phrase';

export type FineTuneJobOutcome = 'succeeded' | 'failed' | 'canceled' | 'requeued' | 'lost';

/** A problem with the job itself (missing model, unusable data): the job fails with this message. */
class JobError extends Error {}

/** Progress is written at most this often (and at the first and last step). */
const PROGRESS_WRITE_MS = 500;
/** How often a running job re-reads its row for a cancel request. */
const CONTROL_POLL_MS = 250;

/** Where a job's training checkpoints live; the next online round reads the optimiser state from here. */
export function fineTuneCheckpointDir(dataDir: string, jobId: string): string {
  return join(dataDir, 'fine-tunes', jobId, 'checkpoint');
}

/** The base model's LoRA-capable layers, as the trainer and the inference pipeline target them. */
export function loraModuleShapes(model: DiffusionModel): Map<string, ModuleShape> {
  return moduleShapesOf(model.unetParams, adaptableModules(model.unetConfig));
}

/** Every run of a job writes its adapter here, so a re-run replaces rather than adds a file. */
function adapterStorageKey(job: Pick<FineTuneEntity, 'id' | 'tenantId'>): string {
  return `tenants/${job.tenantId}/adapters/ft-${job.id}.safetensors`;
}

/** The job's preview grid, likewise one per job. */
function previewStorageKey(job: Pick<FineTuneEntity, 'id' | 'tenantId'>): string {
  return `tenants/${job.tenantId}/fine-tunes/${job.id}/preview.png`;
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

function progressMetrics(p: FineTuneProgress): Record<string, number | null> {
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
 * Runs one claimed fine-tune in the worker process: loads the base model and the dataset's training
 * copies, trains with checkpoints (a restarted worker resumes), keeps the lease alive, watches for
 * cancellation, and registers the resulting adapter exactly once.
 */
@Injectable()
export class FineTuneJobProcessor {
  private readonly logger = new Logger('FineTuneJob');
  private cachedModel?: { dir: string; version: number; model: DiffusionModel };

  constructor(
    private readonly fineTunes: FineTunesRepository,
    private readonly datasets: DatasetsRepository,
    private readonly adapters: AdaptersRepository,
    private readonly registrar: AdapterRegistrar,
    private readonly storage: StoragePort,
    private readonly queue: FineTuneQueue,
    private readonly webhooks: WebhookEventsService,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
  ) {}

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
    await this.webhooks.emit(job, 'fine_tune.started');
    this.logger.log(`Fine-tune ${job.id} (${job.method}, ${job.totalSteps} steps) started, attempt ${claim.attempt}`);
    let resumedFromStep = 0;
    if (claim.attempt > 1) {
      // A previous holder killed mid-write left temporary files; this worker holds the job now, so they are orphans.
      await this.discardPartialWrites(job);
      resumedFromStep = await this.checkpointStep(job);
      this.logger.log(`Fine-tune ${job.id} resumes from its checkpoint at step ${resumedFromStep}`);
    }

    const abort = new AbortController();
    let reason: 'cancel' | 'stop' | 'lost' | undefined;
    const halt = (why: 'cancel' | 'stop' | 'lost') => {
      reason ??= why;
      abort.abort();
    };
    const onStop = () => halt('stop');
    stop?.addEventListener('abort', onStop);
    if (stop?.aborted) halt('stop');
    const { leaseMs } = this.config.worker;
    const heartbeat = setInterval(() => {
      this.queue.renew(job.id, workerId, leaseMs).then((held) => held || halt('lost'), (error) => this.logger.warn(`lease renewal failed: ${error}`));
    }, Math.max(200, Math.floor(leaseMs / 3)));
    const control = setInterval(() => {
      this.fineTunes.readControl(job.id, workerId).then(
        (c) => (!c.held ? halt('lost') : c.cancelRequested ? halt('cancel') : undefined),
        (error) => this.logger.warn(`reading job control failed: ${error}`),
      );
    }, CONTROL_POLL_MS);
    const progress = this.progressWriter(job, workerId);

    try {
      const result = await this.train(job, abort.signal, progress.report);
      await progress.flush();
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
      if (reason === 'lost') return 'lost';
      if (reason) return this.endInterrupted(job, workerId, reason, job.step);
      const message = error instanceof JobError ? error.message : `training failed: ${(error as Error)?.message ?? String(error)}`;
      this.logger.error(`Fine-tune ${job.id} failed: ${message}`);
      await rm(join(this.config.dataDir, 'fine-tunes', job.id), { recursive: true, force: true });
      if (await this.fineTunes.markFailed(job.id, workerId, message.slice(0, 2000))) await this.notify(job.id, 'fine_tune.failed');
      return 'failed';
    } finally {
      clearInterval(heartbeat);
      clearInterval(control);
      stop?.removeEventListener('abort', onStop);
    }
  }

  private async endInterrupted(job: FineTuneEntity, workerId: string, reason: 'cancel' | 'stop' | 'lost', step: number): Promise<FineTuneJobOutcome> {
    if (reason === 'lost') return 'lost';
    if (reason === 'stop') {
      // Shutting down: another worker (or this one after a restart) resumes from the checkpoint.
      if (!(await this.queue.requeue(job.id, workerId))) return 'lost';
      this.logger.log(`Fine-tune ${job.id} handed back to the queue at step ${step}; it resumes from its checkpoint`);
      return 'requeued';
    }
    // Checkpoints go first: once the row says canceled, nothing of the job is left behind.
    await rm(join(this.config.dataDir, 'fine-tunes', job.id), { recursive: true, force: true });
    if (!(await this.fineTunes.markCanceled(job.id, workerId, step))) return 'lost';
    await this.notify(job.id, 'fine_tune.canceled');
    this.logger.log(`Fine-tune ${job.id} canceled at step ${step}`);
    return 'canceled';
  }

  private async train(job: FineTuneEntity, signal: AbortSignal, onProgress: (p: FineTuneProgress) => void): Promise<FineTuneResult> {
    const model = await this.loadModel(job.baseModel);
    const demonstrations = await this.loadDemonstrations(job, model.sampleSpace.imageSize);
    const init = await this.loadInitAdapter(job, model);
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
      checkpointDir: fineTuneCheckpointDir(this.config.dataDir, job.id),
      checkpointEvery: this.config.worker.checkpointEvery,
      resume: true,
      signal,
      onProgress,
      intraOpThreads: this.config.worker.threads,
    });
  }

  /** The base model, reloaded when its weights file changes (the bundled model is retrained in place). */
  private async loadModel(name: string): Promise<DiffusionModel> {
    const dir = join(this.config.modelsDir, name);
    let version: number;
    try {
      version = (await stat(join(dir, 'unet', 'diffusion_pytorch_model.safetensors'))).mtimeMs;
    } catch {
      throw new JobError(`base model ${name} is not installed on this worker (MODELS_DIR ${this.config.modelsDir})`);
    }
    if (this.cachedModel?.dir === dir && this.cachedModel.version === version) return this.cachedModel.model;
    const model = await loadDiffusionModel(dir);
    this.cachedModel = { dir, version, model };
    return model;
  }

  private async loadDemonstrations(job: FineTuneEntity, size: number): Promise<Demonstration[]> {
    if (!job.datasetId) throw new JobError('the dataset was deleted before training started');
    const images = await this.datasets.listImages(job.tenantId, job.datasetId);
    if (images.length === 0) throw new JobError('the dataset has no images');
    const demonstrations: Demonstration[] = [];
    for (const image of images) {
      const file = await this.storage.get(image.trainingKey);
      demonstrations.push({ image: await decodeImageToChw(file, size), caption: withStylePhrase(image.caption, job.stylePhrase) });
    }
    return demonstrations;
  }

  /** Online round: the adapter to continue and, when a job here trained it, that job's optimiser state. */
  private async loadInitAdapter(job: FineTuneEntity, model: DiffusionModel): Promise<{ adapter: LoraAdapter; optimizerState?: AdamWState } | undefined> {
    if (!job.initAdapterId) return undefined;
    const row = await this.adapters.findForTenant(job.tenantId, job.initAdapterId);
    if (!row) throw new JobError(`initial adapter ${job.initAdapterId} was deleted`);
    let adapter: LoraAdapter;
    try {
      adapter = parseLoraAdapter(await this.storage.get(row.storageKey), { moduleShapes: loraModuleShapes(model) }).adapter;
    } catch (error) {
      throw new JobError(`initial adapter ${row.id} does not fit base model ${job.baseModel}: ${(error as Error).message}`);
    }
    let optimizerState: AdamWState | undefined;
    if (row.fineTuneId) {
      try {
        optimizerState = (await new CheckpointStore(fineTuneCheckpointDir(this.config.dataDir, row.fineTuneId)).load())?.optimizer;
      } catch {
        // No usable checkpoint (another machine, cleaned up): the optimiser starts fresh.
      }
    }
    return { adapter, optimizerState };
  }

  /** The step of the job's last complete checkpoint (0: none), from its manifest. */
  private async checkpointStep(job: FineTuneEntity): Promise<number> {
    try {
      const manifest = JSON.parse(await readFile(join(fineTuneCheckpointDir(this.config.dataDir, job.id), 'checkpoint.json'), 'utf8'));
      return Number.isInteger(manifest.step) ? manifest.step : 0;
    } catch {
      return 0;
    }
  }

  private async discardPartialWrites(job: FineTuneEntity): Promise<void> {
    const dir = fineTuneCheckpointDir(this.config.dataDir, job.id);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) if (/\.tmp-\d+-[0-9a-f]+$/.test(name)) await rm(join(dir, name), { force: true });
    await this.storage.discardPartialWrites(adapterStorageKey(job));
    await this.storage.discardPartialWrites(previewStorageKey(job));
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
        model: await this.loadModel(job.baseModel),
        baseModel: job.baseModel,
        adapter: result.adapter,
        scale,
        stylePhrase: job.stylePhrase,
        datasetCaptions: images.map((image) => image.caption ?? ''),
        modelsDir: this.config.modelsDir,
        intraOpThreads: this.config.worker.threads,
        onScorerError: (error) => this.logger.warn(`Fine-tune ${job.id}: preview not scored: ${error.message}`),
      });
      const storageKey = previewStorageKey(job);
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
      storageKey: adapterStorageKey(job),
    });
    return row.id;
  }

  /** Records a state-change webhook with the row as it now is. */
  async notify(jobId: string, event: WebhookEvent): Promise<void> {
    const row = await this.fineTunes.findById(jobId);
    if (row) await this.webhooks.emit(row, event);
  }

  /** Throttled, ordered progress writes: training never waits on the database. */
  private progressWriter(job: FineTuneEntity, workerId: string) {
    let latest: FineTuneProgress | undefined;
    let written = 0;
    let lastWrite = 0;
    let chain: Promise<unknown> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const write = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      const p = latest;
      if (!p || p.step === written) return chain;
      const milestones = WebhookEventsService.milestonesBetween(written, p.step, p.totalSteps);
      written = p.step;
      lastWrite = Date.now();
      chain = chain
        .then(() => this.fineTunes.recordProgress(job.id, workerId, p.step, p.totalSteps, progressMetrics(p)))
        .then(async () => {
          for (const milestone of milestones) await this.webhooks.emit({ ...job, step: p.step, totalSteps: p.totalSteps, metrics: progressMetrics(p) }, 'fine_tune.progress', milestone);
        })
        .catch((error) => this.logger.warn(`progress write failed: ${error}`));
      return chain;
    };
    return {
      report: (p: FineTuneProgress) => {
        latest = p;
        if (p.step === 1 || p.step >= p.totalSteps || Date.now() - lastWrite >= PROGRESS_WRITE_MS) write();
        else timer ??= setTimeout(write, PROGRESS_WRITE_MS);
      },
      flush: async () => {
        await write();
      },
      latest: () => (latest ? progressMetrics(latest) : {}),
    };
  }
}
