import { Column, Entity, Index } from 'typeorm';
import { HASH_COLUMN, ID_COLUMN, KEY_COLUMN, NAME_COLUMN, bigintAsNumber } from '../database/column-types';
import type { LoraKeyFormat } from '../engine';
import { STYLE_PHRASE_MAX_LENGTH } from '../fine-tunes/style-phrase';
import { TenantOwnedEntity } from '../tenants/tenant-owned.entity';

export type AdapterSource = 'import' | 'fine-tune';
/**
 * Key naming of the file the adapter came from: diffusers/peft (`lora_A`/`lora_B`), legacy diffusers
 * (`lora.down`/`lora.up`) or kohya (`lora_down`/`lora_up`). Stored weights are always diffusers/peft.
 */
export type AdapterKeyFormat = LoraKeyFormat;

/** A LoRA adapter (.safetensors) owned by a tenant: trained here or imported. */
@Entity('adapters')
export class AdapterEntity extends TenantOwnedEntity {
  @Column(NAME_COLUMN)
  name: string;

  @Column({ type: 'varchar', length: 16 })
  source: AdapterSource;

  /**
   * The fine-tune that produced it (no foreign key: fine-tunes point back at adapters). Unique, so a
   * job re-run after a crash registers the same adapter instead of a second one.
   */
  @Index({ unique: true })
  @Column({ ...ID_COLUMN, nullable: true })
  fineTuneId: string | null;

  @Column({ ...NAME_COLUMN, nullable: true })
  baseModel: string | null;

  @Column({ type: 'varchar', length: 16 })
  format: AdapterKeyFormat;

  @Column({ type: 'integer', nullable: true })
  rank: number | null;

  @Column({ type: 'real', nullable: true })
  alpha: number | null;

  @Column({ type: 'integer' })
  tensorCount: number;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  bytes: number;

  @Column(HASH_COLUMN)
  sha256: string;

  /** The fine-tune's trigger phrase (imports: from the file metadata, when recorded). */
  @Column({ type: 'varchar', length: STYLE_PHRASE_MAX_LENGTH, nullable: true })
  stylePhrase: string | null;

  /** The scale to apply the adapter at; the fine-tune preview uses it. */
  @Column({ type: 'real', default: 1 })
  recommendedScale: number;

  @Column(KEY_COLUMN)
  storageKey: string;

  /** The `__metadata__` (string map) of the file as uploaded or written, kept for provenance. */
  @Column({ type: 'simple-json', nullable: true })
  metadata: Record<string, string> | null;
}
