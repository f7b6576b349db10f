import { BadRequestException, ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import type { UploadedPart } from '../http/multipart';
import { FineTunesRepository } from '../fine-tunes/fine-tunes.repository';
import { QuotasService } from '../limits/quotas.service';
import { DEFAULT_BASE_MODEL, ModelsService } from '../models/models.service';
import { StoragePort } from '../storage/storage.port';
import { datasetImageKeys, datasetPrefix } from '../storage/storage-keys';
import { DatasetImageEntity, DatasetImageSource } from './dataset-image.entity';
import { DatasetEntity } from './dataset.entity';
import {
  DatasetDetailDto,
  DatasetDto,
  DatasetImageDto,
  DatasetListDto,
  RejectedFileDto,
  TrainingReportDto,
  UploadResultDto,
} from './datasets.dto';
import { DatasetsRepository } from './datasets.repository';
import { EXTENSIONS, ImageRejection, MIME_TYPES, MIN_IMAGES_FOR_FINE_TUNE, prepareTrainingImage } from './training-image';
import { isZip, openZipArchive } from './zip-archive';

const MAX_CAPTION_LENGTH = 2000;

/** A file to consider, wherever it came from (a multipart part, a zip entry, a kept generation). */
export interface ImageCandidate {
  filename: string;
  caption: string;
  mimeType?: string;
  /** Size when known before reading (uploaded parts, zip entries), for the storage quota. */
  bytes?: number;
  read(): Promise<Buffer>;
}

function toImageDto(image: DatasetImageEntity): DatasetImageDto {
  return {
    id: image.id,
    filename: image.filename,
    caption: image.caption,
    mimeType: image.mimeType,
    bytes: image.bytes,
    width: image.width,
    height: image.height,
    source: image.source,
    createdAt: image.createdAt.toISOString(),
  };
}

function toDatasetDto(dataset: DatasetEntity, imageCount: number): DatasetDto {
  return {
    id: dataset.id,
    name: dataset.name,
    imageCount,
    createdAt: dataset.createdAt.toISOString(),
    updatedAt: dataset.updatedAt.toISOString(),
  };
}

function wordCount(text: string): number {
  const trimmed = text.trim();
  return trimmed === '' ? 0 : trimmed.split(/\s+/).length;
}

/**
 * What a fine-tune would make of these images now (no training is started), at the resolution the
 * base model trains at (null: not installed).
 */
export function buildTrainingReport(images: DatasetImageEntity[], rejectedFiles: number, trainingResolution: number | null): TrainingReportDto {
  const words = images.map((image) => wordCount(image.caption)).filter((n) => n > 0);
  const captioned = words.length;
  const uncaptioned = images.length - captioned;
  const notes: string[] = [];
  if (images.length < MIN_IMAGES_FOR_FINE_TUNE) {
    notes.push(`Add at least ${MIN_IMAGES_FOR_FINE_TUNE - images.length} more image(s): a fine-tune needs ${MIN_IMAGES_FOR_FINE_TUNE}`);
  }
  if (uncaptioned > 0) notes.push(`${uncaptioned} image(s) have no caption; they train on the style alone`);
  const small = trainingResolution === null ? 0 : images.filter((image) => Math.min(image.width, image.height) < trainingResolution).length;
  if (small > 0) notes.push(`${small} image(s) are smaller than ${trainingResolution} px and are upscaled for training`);
  return {
    usableImages: images.length,
    rejectedFiles,
    captions: {
      captioned,
      uncaptioned,
      meanWords: captioned === 0 ? 0 : Math.round((words.reduce((a, b) => a + b, 0) / captioned) * 10) / 10,
      maxWords: captioned === 0 ? 0 : Math.max(...words),
    },
    minImages: MIN_IMAGES_FOR_FINE_TUNE,
    readyForFineTune: images.length >= MIN_IMAGES_FOR_FINE_TUNE,
    trainingResolution,
    notes,
  };
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * Parses the `captions` form field: a JSON array of strings, one entry per image in the order sent
 * (null or "" for none). No field means no captions; a count that does not match is refused, since
 * there is no telling which image a caption was meant for.
 */
export function parseCaptions(field: string | undefined, imageCount: number): string[] {
  if (field === undefined || field.trim() === '') return Array(imageCount).fill('');
  let parsed: unknown;
  try {
    parsed = JSON.parse(field);
  } catch {
    throw new BadRequestException('captions must be a JSON array of strings');
  }
  if (!Array.isArray(parsed) || parsed.some((c) => c !== null && typeof c !== 'string')) {
    throw new BadRequestException('captions must be a JSON array of strings');
  }
  if (parsed.length !== imageCount) {
    throw new BadRequestException(
      `captions has ${plural(parsed.length, 'entry', 'entries')} but ${plural(imageCount, 'image was', 'images were')} sent: one entry per image (null for none)`,
    );
  }
  const captions = parsed.map((c) => (typeof c === 'string' ? c.trim() : ''));
  const tooLong = captions.findIndex((c) => c.length > MAX_CAPTION_LENGTH);
  if (tooLong >= 0) throw new BadRequestException(`captions.${tooLong} must be at most ${MAX_CAPTION_LENGTH} characters`);
  return captions;
}

@Injectable()
export class DatasetsService {
  constructor(
    private readonly datasets: DatasetsRepository,
    private readonly fineTunes: FineTunesRepository,
    private readonly models: ModelsService,
    private readonly storage: StoragePort,
    private readonly quotas: QuotasService,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
  ) {}

  async createDataset(tenantId: string, name: string): Promise<DatasetDto> {
    const dataset = await this.datasets.createForTenant(tenantId, { id: randomUUID(), name });
    return toDatasetDto(dataset, 0);
  }

  async listDatasets(tenantId: string): Promise<DatasetListDto> {
    const [datasets, counts] = await Promise.all([
      this.datasets.listForTenant(tenantId),
      this.datasets.countImagesByDataset(tenantId),
    ]);
    return { data: datasets.map((d) => toDatasetDto(d, counts.get(d.id) ?? 0)) };
  }

  async getDataset(tenantId: string, id: string): Promise<DatasetDetailDto> {
    const dataset = await this.requireDataset(tenantId, id);
    const images = await this.datasets.listImages(tenantId, id);
    return {
      ...toDatasetDto(dataset, images.length),
      images: images.map(toImageDto),
      report: buildTrainingReport(images, dataset.rejectedCount, await this.trainingResolution()),
    };
  }

  async deleteDataset(tenantId: string, id: string): Promise<void> {
    await this.requireDataset(tenantId, id);
    if ((await this.fineTunes.countActive(tenantId, id)) > 0) {
      throw new ConflictException('Dataset is used by a queued or running fine-tune; cancel it first');
    }
    await this.datasets.deleteForTenant(tenantId, id);
    await this.storage.deletePrefix(datasetPrefix(tenantId, id));
  }

  /**
   * Adds images sent as `images` parts (with a `captions` JSON array) or as one zip archive.
   * Each file is accepted or rejected on its own; only request-level problems fail the request.
   */
  async uploadDatasetImages(tenantId: string, datasetId: string, parts: UploadedPart[], captionsField?: string): Promise<UploadResultDto> {
    await this.requireDataset(tenantId, datasetId);
    if (parts.length === 0) {
      throw new BadRequestException('images is required: send image files in "images" or one .zip in "archive"');
    }
    const archives = parts.filter((part) => part.field === 'archive' || isZip(part.data) || /\.zip$/i.test(part.filename));
    if (archives.length > 0) {
      if (parts.length > 1) throw new BadRequestException('archive must be sent alone: one .zip, or image files without an archive');
      if (captionsField !== undefined) throw new BadRequestException('captions cannot be combined with an archive; put .txt captions next to the images');
      return this.addFromArchive(tenantId, datasetId, archives[0].data);
    }
    const captions = parseCaptions(captionsField, parts.length);
    const candidates: ImageCandidate[] = parts.map((part, index) => ({
      filename: part.filename,
      caption: captions[index],
      mimeType: part.mimeType,
      bytes: part.data.length,
      read: async () => part.data,
    }));
    return this.addCandidates(tenantId, datasetId, candidates, []);
  }

  private async addFromArchive(tenantId: string, datasetId: string, data: Buffer): Promise<UploadResultDto> {
    const zip = await openZipArchive(data, this.config.limits);
    try {
      const candidates: ImageCandidate[] = zip.images.map((image) => ({
        filename: image.filename.slice(-255),
        caption: image.caption.slice(0, MAX_CAPTION_LENGTH),
        // Declared in the archive and verified while inflating: counted against the storage quota up front.
        bytes: image.uncompressedBytes,
        read: image.read,
      }));
      return await this.addCandidates(tenantId, datasetId, candidates, zip.rejected.map((r) => ({ ...r, filename: r.filename.slice(-255) })));
    } finally {
      zip.close();
    }
  }

  /**
   * Adds generated images users kept as demonstrations (source `feedback`), judged like uploads:
   * the same picture already in the dataset is rejected as a duplicate.
   */
  async addFeedbackImages(tenantId: string, datasetId: string, candidates: ImageCandidate[]): Promise<UploadResultDto> {
    await this.requireDataset(tenantId, datasetId);
    return this.addCandidates(tenantId, datasetId, candidates, [], 'feedback');
  }

  private async addCandidates(
    tenantId: string,
    datasetId: string,
    candidates: ImageCandidate[],
    rejected: RejectedFileDto[],
    source: DatasetImageSource = 'upload',
  ): Promise<UploadResultDto> {
    await this.quotas.assertDatasetRoom(tenantId, datasetId, candidates.length);
    if (source === 'upload') await this.quotas.assertStorageRoom(tenantId, candidates.reduce((sum, c) => sum + (c.bytes ?? 0), 0));
    const added: DatasetImageDto[] = [];
    const seen = new Set<string>();
    const trainingResolution = await this.trainingResolution();
    let position = await this.datasets.nextPosition(tenantId, datasetId);

    for (const candidate of candidates) {
      try {
        let data: Buffer;
        try {
          data = await candidate.read();
        } catch (error) {
          throw new ImageRejection('corrupt', `cannot inflate: ${(error as Error).message}`);
        }
        const prepared = await prepareTrainingImage(data, candidate.filename, candidate.mimeType, this.config.limits, trainingResolution);
        if (seen.has(prepared.contentHash) || (await this.datasets.findExistingHashes(tenantId, datasetId, [prepared.contentHash])).size > 0) {
          throw new ImageRejection('duplicate', 'the same image is already in the dataset');
        }
        seen.add(prepared.contentHash);

        const id = randomUUID();
        const { prefix, original: originalKey, training: trainingKey } = datasetImageKeys(tenantId, datasetId, id, EXTENSIONS[prepared.format], prepared.trainingSide);
        await this.storage.put(originalKey, data);
        await this.storage.put(trainingKey, prepared.training);
        try {
          const image = await this.datasets.addImage({
            id,
            tenantId,
            datasetId,
            position: position++,
            filename: candidate.filename,
            caption: candidate.caption,
            contentHash: prepared.contentHash,
            mimeType: MIME_TYPES[prepared.format],
            bytes: data.length,
            width: prepared.width,
            height: prepared.height,
            originalKey,
            trainingKey,
            source,
          });
          added.push(toImageDto(image));
        } catch (error) {
          await this.storage.deletePrefix(prefix);
          // A concurrent upload of the same picture won the unique index.
          if ((await this.datasets.findExistingHashes(tenantId, datasetId, [prepared.contentHash])).size > 0) {
            throw new ImageRejection('duplicate', 'the same image is already in the dataset');
          }
          throw error;
        }
      } catch (error) {
        if (!(error instanceof ImageRejection)) throw error;
        rejected.push({ filename: candidate.filename, reason: error.reason, detail: error.detail });
      }
    }
    await this.datasets.recordUpload(tenantId, datasetId, rejected.length);
    return { added, rejected };
  }

  private async requireDataset(tenantId: string, id: string): Promise<DatasetEntity> {
    const dataset = await this.datasets.findForTenant(tenantId, id);
    if (!dataset) throw new NotFoundException(`Dataset ${id} not found`);
    return dataset;
  }

  /**
   * The side fine-tunes train at: the default base model's resolution, as GET /v1/models reports it.
   * Datasets are not tied to a model; a fine-tune on another base model resizes the copies it reads.
   */
  private trainingResolution(): Promise<number | null> {
    return this.models.findResolution(DEFAULT_BASE_MODEL);
  }
}
