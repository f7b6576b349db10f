import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { encodeLoraFile, type LoraAdapter } from '../engine';
import { importedAdapterKey } from '../storage/storage-keys';
import { StoragePort } from '../storage/storage.port';
import { AdapterEntity, AdapterKeyFormat, AdapterSource } from './adapter.entity';
import { AdaptersRepository } from './adapters.repository';

export interface AdapterRegistration {
  tenantId: string;
  name: string;
  source: AdapterSource;
  /** Set for a fine-tune's adapter: registered once per job, a re-run refreshes the same row. */
  fineTuneId: string | null;
  baseModel: string | null;
  /** The weights; their rank and alpha are what the row records. */
  adapter: LoraAdapter;
  /** Key naming of the file it came from (default: peft, what this service writes). */
  format?: AdapterKeyFormat;
  /** Provenance: the `__metadata__` of the uploaded file (default: that of the file written). */
  metadata?: Record<string, string> | null;
  stylePhrase: string | null;
  recommendedScale: number;
  /** Where the file goes (default: a key of its own); a fine-tune writes one key on every run. */
  storageKey?: string;
  /** Called with the file's size before it is stored (imports check the tenant's storage quota). */
  assertStorageRoom?: (bytes: number) => Promise<void>;
}

/**
 * The one way adapters enter the service: imports and fine-tunes alike store the weights as the
 * engine writes them (diffusers/peft naming, alpha folded into lora_B, so every loader applies them
 * at the same strength) and record the row from the adapter itself.
 */
@Injectable()
export class AdapterRegistrar {
  constructor(
    private readonly adapters: AdaptersRepository,
    private readonly storage: StoragePort,
  ) {}

  async register(registration: AdapterRegistration): Promise<AdapterEntity> {
    const { adapter, tenantId, fineTuneId } = registration;
    const file = encodeLoraFile(adapter);
    await registration.assertStorageRoom?.(file.bytes.length);
    const id = randomUUID();
    const storageKey = registration.storageKey ?? importedAdapterKey(tenantId, id);
    await this.storage.put(storageKey, file.bytes);
    const row = {
      id,
      tenantId,
      name: registration.name,
      source: registration.source,
      fineTuneId,
      baseModel: registration.baseModel,
      format: registration.format ?? 'peft',
      rank: adapter.rank,
      alpha: adapter.alpha,
      tensorCount: file.tensorCount,
      bytes: file.bytes.length,
      sha256: createHash('sha256').update(file.bytes).digest('hex'),
      storageKey,
      metadata: registration.metadata !== undefined ? registration.metadata : file.metadata,
      stylePhrase: registration.stylePhrase,
      recommendedScale: registration.recommendedScale,
    };
    if (fineTuneId !== null) return this.adapters.registerForFineTune({ ...row, fineTuneId });
    try {
      return await this.adapters.add(row);
    } catch (error) {
      await this.storage.delete(storageKey);
      throw error;
    }
  }
}
