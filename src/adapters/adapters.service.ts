import { BadRequestException, Injectable, NotFoundException, StreamableFile } from '@nestjs/common';
import {
  loraAdapterFromTensors,
  LoraError,
  parseAdapterConfigJson,
  parseSafetensors,
  readLoraModuleShapes,
  SafetensorsError,
  validateAgainst,
  type LoraReadResult,
  type ModuleShape,
  type PeftLoraConfig,
  type SafetensorsFile,
} from '../engine';
import type { UploadedPart } from '../http/multipart';
import { QuotasService } from '../limits/quotas.service';
import { MAX_ADAPTER_SCALE } from '../generations/generations.dto';
import { normalizeStylePhrase, STYLE_PHRASE_MAX_LENGTH, WITHOUT_CONTROL_CHARACTERS } from '../fine-tunes/style-phrase';
import { ModelsService } from '../models/models.service';
import { StoragePort } from '../storage/storage.port';
import { AdapterEntity } from './adapter.entity';
import { AdapterRegistrar } from './adapter.registrar';
import { AdapterDto, AdapterListDto, ImportAdapterFieldsDto } from './adapters.dto';
import { AdaptersRepository } from './adapters.repository';

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

/** A run of separators, or separators at either end of a file name. */
const SEPARATOR_RUN = /[._-]*_[._-]*/g;
const EDGE_SEPARATORS = /^[._-]+|[._-]+$/g;

/** File names in Content-Disposition: safe ASCII words joined by single underscores, none at the ends. */
export function downloadName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(SEPARATOR_RUN, '_').replace(EDGE_SEPARATORS, '');
  return `${safe.slice(0, 100).replace(EDGE_SEPARATORS, '') || 'adapter'}.safetensors`;
}

/** The problems of a LoraError as one line for an error message. */
function problemsOf(error: LoraError): string {
  return error.problems.join('; ');
}

@Injectable()
export class AdaptersService {
  constructor(
    private readonly adapters: AdaptersRepository,
    private readonly registrar: AdapterRegistrar,
    private readonly storage: StoragePort,
    private readonly quotas: QuotasService,
    private readonly models: ModelsService,
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

  /**
   * Imports an externally trained LoRA: checks the file, its base model (one this service serves;
   * then kohya names resolve against it and the shapes must fit) and its alpha, and stores it as
   * the engine writes adapters.
   */
  async importAdapter(tenantId: string, fields: ImportAdapterFieldsDto, parts: UploadedPart[]): Promise<AdapterDto> {
    const upload = parts.find((part) => part.field === 'file');
    if (!upload) throw new BadRequestException('file is required: a .safetensors file in the "file" part');
    const configPart = parts.find((part) => part.field === 'adapterConfig');
    let file;
    try {
      file = parseSafetensors(upload.data);
    } catch (error) {
      if (error instanceof SafetensorsError) throw new BadRequestException(`file is not a LoRA safetensors file: ${error.reason}`);
      throw error;
    }
    const baseModel = await this.resolveBaseModel(fields.baseModel, file.metadata.base_model);
    const config = configPart ? this.readAdapterConfig(configPart) : undefined;
    const moduleShapes = baseModel ? await readLoraModuleShapes(baseModel.dir) : undefined;
    const read = this.readAdapter(file, { config, moduleShapes, baseModel: baseModel?.name });
    if (read.unrecordedAlpha.length > 0 && !config) {
      throw new BadRequestException(
        `adapterConfig is required: "${upload.filename}" holds peft LoRA weights (lora_A/lora_B) without their alpha (no alpha tensors, lora_adapter_metadata or alpha metadata); ` +
          'send the adapter_config.json that peft saved beside it as the "adapterConfig" part',
      );
    }
    const { adapter } = read;
    if (baseModel) adapter.metadata.base_model = baseModel.name;
    const row = await this.registrar.register({
      tenantId,
      name: fields.name,
      source: 'import',
      fineTuneId: null,
      baseModel: baseModel?.name ?? null,
      adapter,
      format: read.format,
      metadata: Object.keys(file.metadata).length > 0 ? file.metadata : null,
      ...adapterUsageFromMetadata(file.metadata),
      assertStorageRoom: (bytes) => this.quotas.assertStorageRoom(tenantId, bytes),
    });
    return toDto(row);
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

  /** The base model named by the field, else by the file's metadata; it must be one this service serves. */
  private async resolveBaseModel(field: string | undefined, recorded: string | undefined): Promise<{ name: string; dir: string } | null> {
    const name = field ?? (recorded?.trim() || undefined);
    if (name === undefined) return null;
    const dir = await this.models.findModelDir(name);
    if (dir) return { name, dir };
    const served = (await this.models.listModels()).data.map((model) => model.id).join(', ') || 'none';
    if (field !== undefined) throw new BadRequestException(`baseModel: "${name}" is not a base model this service serves (served: ${served}); see GET /v1/models`);
    throw new BadRequestException(
      `baseModel: the file's base_model metadata names "${name}", which is not a base model this service serves (served: ${served}); name the base model in the baseModel field`,
    );
  }

  private readAdapterConfig(part: UploadedPart): PeftLoraConfig {
    try {
      return parseAdapterConfigJson(part.data.toString('utf8'));
    } catch (error) {
      if (error instanceof LoraError) throw new BadRequestException(`adapterConfig: ${problemsOf(error)}`);
      throw error;
    }
  }

  private readAdapter(
    file: SafetensorsFile,
    opts: { config?: PeftLoraConfig; moduleShapes?: Map<string, ModuleShape>; baseModel?: string },
  ): LoraReadResult {
    let read: LoraReadResult;
    try {
      read = loraAdapterFromTensors(file.tensors, file.metadata, { peftConfig: opts.config, knownModules: opts.moduleShapes?.keys() });
    } catch (error) {
      if (!(error instanceof LoraError)) throw error;
      const against = opts.config && error.problems.some((problem) => problem.includes(opts.config!.source));
      throw new BadRequestException(`${against ? 'adapterConfig does not match file' : 'file is not a LoRA safetensors file'}: ${problemsOf(error)}`);
    }
    if (opts.moduleShapes) {
      try {
        validateAgainst(read.adapter, opts.moduleShapes);
      } catch (error) {
        if (error instanceof LoraError) throw new BadRequestException(`file does not fit base model ${opts.baseModel}: ${problemsOf(error)}`);
        throw error;
      }
    }
    return read;
  }
}
