import { BadRequestException, Injectable, NotFoundException, StreamableFile } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import type { UploadedPart } from '../http/multipart';
import { QuotasService } from '../limits/quotas.service';
import { MAX_ADAPTER_SCALE } from '../generations/generations.dto';
import { normalizeStylePhrase, STYLE_PHRASE_MAX_LENGTH, WITHOUT_CONTROL_CHARACTERS } from '../fine-tunes/style-phrase';
import { StoragePort } from '../storage/storage.port';
import { importedAdapterKey } from '../storage/storage-keys';
import { AdapterEntity } from './adapter.entity';
import { AdapterDto, AdapterListDto, ImportAdapterFieldsDto } from './adapters.dto';
import { AdaptersRepository } from './adapters.repository';
import { parseSafetensorsHeader, SafetensorsError, summarizeLora } from './safetensors-header';

function toDto(adapter: AdapterEntity): AdapterDto {
  return {
    id: adapter.id,
    name: adapter.name,
    source: adapter.source,
    fineTuneId: adapter.fineTuneId,
    baseModel: adapter.baseModel,
    format: adapter.format,
    rank: adapter.rank,
    alpha: adapter.alpha,
    tensorCount: adapter.tensorCount,
    bytes: adapter.bytes,
    sha256: adapter.sha256,
    stylePhrase: adapter.stylePhrase,
    recommendedScale: adapter.recommendedScale,
    metadata: adapter.metadata,
    createdAt: adapter.createdAt.toISOString(),
  };
}

/**
 * How to use an imported adapter, as its file records it: `style_phrase` (the format this service
 * writes) and `recommended_scale` (a number in (0, 2]); otherwise no phrase and scale 1.
 */
export function adapterUsageFromMetadata(metadata: Record<string, string> | null | undefined): Pick<AdapterEntity, 'stylePhrase' | 'recommendedScale'> {
  const phrase = normalizeStylePhrase(metadata?.style_phrase ?? '');
  const scale = Number(metadata?.recommended_scale);
  return {
    stylePhrase: phrase && phrase.length <= STYLE_PHRASE_MAX_LENGTH && WITHOUT_CONTROL_CHARACTERS.test(phrase) ? phrase : null,
    recommendedScale: Number.isFinite(scale) && scale > 0 && scale <= MAX_ADAPTER_SCALE ? scale : 1,
  };
}

/** File names in Content-Disposition: safe ASCII, the rest replaced. */
function downloadName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || 'adapter'}.safetensors`;
}

@Injectable()
export class AdaptersService {
  constructor(
    private readonly adapters: AdaptersRepository,
    private readonly storage: StoragePort,
    private readonly quotas: QuotasService,
  ) {}

  async listAdapters(tenantId: string): Promise<AdapterListDto> {
    return { data: (await this.adapters.listForTenant(tenantId)).map(toDto) };
  }

  async getAdapter(tenantId: string, id: string): Promise<AdapterDto> {
    return toDto(await this.requireAdapter(tenantId, id));
  }

  async openAdapterWeights(tenantId: string, id: string): Promise<StreamableFile> {
    const adapter = await this.requireAdapter(tenantId, id);
    const { stream, bytes } = await this.storage.stream(adapter.storageKey);
    return new StreamableFile(stream, {
      type: 'application/octet-stream',
      length: bytes,
      disposition: `attachment; filename="${downloadName(adapter.name)}"`,
    });
  }

  /** Imports an externally trained LoRA after checking its safetensors header. */
  async importAdapter(tenantId: string, fields: ImportAdapterFieldsDto, parts: UploadedPart[]): Promise<AdapterDto> {
    const file = parts.find((part) => part.field === 'file');
    if (!file) throw new BadRequestException('file is required: a .safetensors file in the "file" part');
    let summary;
    let header;
    try {
      header = parseSafetensorsHeader(file.data);
      summary = summarizeLora(header);
    } catch (error) {
      if (error instanceof SafetensorsError) throw new BadRequestException(`file is not a LoRA safetensors file: ${error.message}`);
      throw error;
    }
    await this.quotas.assertStorageRoom(tenantId, file.data.length);
    const id = randomUUID();
    const storageKey = importedAdapterKey(tenantId, id);
    await this.storage.put(storageKey, file.data);
    try {
      const adapter = await this.adapters.add({
        id,
        tenantId,
        name: fields.name,
        source: 'import',
        fineTuneId: null,
        baseModel: fields.baseModel ?? header.metadata?.base_model ?? null,
        format: summary.format,
        rank: summary.rank,
        alpha: summary.alpha,
        tensorCount: header.tensors.length,
        bytes: file.data.length,
        sha256: createHash('sha256').update(file.data).digest('hex'),
        storageKey,
        metadata: header.metadata,
        ...adapterUsageFromMetadata(header.metadata),
      });
      return toDto(adapter);
    } catch (error) {
      await this.storage.delete(storageKey);
      throw error;
    }
  }

  async deleteAdapter(tenantId: string, id: string): Promise<void> {
    const adapter = await this.requireAdapter(tenantId, id);
    await this.adapters.deleteForTenant(tenantId, id);
    await this.storage.delete(adapter.storageKey);
  }

  private async requireAdapter(tenantId: string, id: string): Promise<AdapterEntity> {
    const adapter = await this.adapters.findForTenant(tenantId, id);
    if (!adapter) throw new NotFoundException(`Adapter ${id} not found`);
    return adapter;
  }
}
