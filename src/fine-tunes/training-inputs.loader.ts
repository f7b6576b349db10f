import { Logger } from '@nestjs/common';
import { join } from 'node:path';
import sharp from 'sharp';
import { AdaptersRepository } from '../adapters/adapters.repository';
import { RuntimeConfig } from '../config/config.module';
import { DatasetsRepository } from '../datasets/datasets.repository';
import type { DatasetImageEntity } from '../datasets/dataset-image.entity';
import {
  adaptableModules,
  type AdamWState,
  CheckpointStore,
  decodeImageToChw,
  Demonstration,
  DiffusionModel,
  loadDiffusionModel,
  type LoraAdapter,
  loraModuleShapes as moduleShapesOf,
  type ModuleShape,
  modelWeightsVersion,
  parseLoraAdapter,
} from '../engine';
import { StoragePort } from '../storage/storage.port';
import { fineTuneCheckpointPrefix } from '../storage/storage-keys';
import { storageCheckpointFiles } from './storage-checkpoint-files';
import { FineTuneEntity } from './fine-tune.entity';
import { FineTuneJobError } from './fine-tune-job.error';
import { withoutStylePhrase, withStylePhrase } from './style-phrase';

/** The base model's LoRA-capable layers, as the trainer and the inference pipeline target them. */
export function loraModuleShapes(model: DiffusionModel): Map<string, ModuleShape> {
  return moduleShapesOf(model.unetParams, adaptableModules(model.unetConfig));
}

/** An online round's starting point: the adapter to continue and, when a job here trained it, that job's optimiser state. */
export interface InitialAdapter {
  adapter: LoraAdapter;
  optimizerState?: AdamWState;
}

/**
 * What a job trains on, read for the worker: the base model (kept loaded between jobs), the
 * dataset's training copies with their captions, and the adapter an online round continues.
 */
export class TrainingInputsLoader {
  private readonly logger = new Logger('FineTuneJob');
  private cachedModel?: { dir: string; version: number; model: DiffusionModel };

  constructor(
    private readonly datasets: DatasetsRepository,
    private readonly adapters: AdaptersRepository,
    private readonly storage: StoragePort,
    private readonly config: RuntimeConfig,
  ) {}

  /** The base model, reloaded when its weights change (the bundled model is retrained in place). */
  async model(name: string): Promise<DiffusionModel> {
    const dir = join(this.config.modelsDir, name);
    let version: number;
    try {
      version = await modelWeightsVersion(dir);
    } catch {
      throw new FineTuneJobError(`base model ${name} is not installed on this worker (MODELS_DIR ${this.config.modelsDir})`);
    }
    if (this.cachedModel?.dir === dir && this.cachedModel.version === version) return this.cachedModel.model;
    const model = await loadDiffusionModel(dir);
    this.cachedModel = { dir, version, model };
    return model;
  }

  /** The dataset's images at the model's resolution, captions with the job's style phrase. */
  async demonstrations(job: FineTuneEntity, model: DiffusionModel): Promise<Demonstration[]> {
    if (!job.datasetId) throw new FineTuneJobError('the dataset was deleted before training started');
    const images = await this.datasets.listImages(job.tenantId, job.datasetId);
    if (images.length === 0) throw new FineTuneJobError('the dataset has no images');
    const size = model.sampleSpace.imageSize;
    const demonstrations: Demonstration[] = [];
    for (const image of images) {
      demonstrations.push({ image: await decodeImageToChw(await this.sourceFor(image, size), size), caption: withStylePhrase(image.caption, job.stylePhrase), contentCaption: withoutStylePhrase(image.caption, job.stylePhrase) });
    }
    return demonstrations;
  }

  /**
   * The training copy (made at the default base model's resolution), or the upload itself, upright,
   * when the job's model is larger than that copy: a 512 px model must not learn from 32 px copies.
   */
  private async sourceFor(image: Pick<DatasetImageEntity, 'trainingKey' | 'originalKey'>, size: number): Promise<Buffer> {
    const side = Number(/train-(\d+)\.png$/.exec(image.trainingKey)?.[1] ?? Infinity);
    if (side >= size) return this.storage.get(image.trainingKey);
    return sharp(await this.storage.get(image.originalKey)).rotate().png().toBuffer();
  }

  async initialAdapter(job: FineTuneEntity, model: DiffusionModel): Promise<InitialAdapter | undefined> {
    if (!job.initAdapterId) return undefined;
    const row = await this.adapters.findForTenant(job.tenantId, job.initAdapterId);
    if (!row) throw new FineTuneJobError(`initial adapter ${job.initAdapterId} was deleted`);
    let adapter: LoraAdapter;
    try {
      adapter = parseLoraAdapter(await this.storage.get(row.storageKey), { moduleShapes: loraModuleShapes(model) }).adapter;
    } catch (error) {
      throw new FineTuneJobError(`initial adapter ${row.id} does not fit base model ${job.baseModel}: ${(error as Error).message}`);
    }
    let optimizerState: AdamWState | undefined;
    if (row.fineTuneId) {
      try {
        optimizerState = (await new CheckpointStore(storageCheckpointFiles(this.storage, fineTuneCheckpointPrefix(row.tenantId, row.fineTuneId))).load())?.optimizer;
        if (optimizerState) this.logger.log(`Fine-tune ${job.id} continues adapter ${row.id} with the optimizer state of fine-tune ${row.fineTuneId} (AdamW step ${optimizerState.step})`);
      } catch {
        // No usable checkpoint (removed, or unreadable): the optimiser starts fresh.
      }
    }
    return { adapter, optimizerState };
  }
}
