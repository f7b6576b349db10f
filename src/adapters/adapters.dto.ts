import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { BaseModelField } from '../models/base-model.decorator';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class AdapterDto {
  @ApiProperty({ format: 'uuid', example: '5e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b' })
  id: string;

  @ApiProperty({ example: 'acme-style-v1' })
  name: string;

  @ApiProperty({ enum: ['import', 'fine-tune'], example: 'fine-tune' })
  source: string;

  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null, description: 'The fine-tune that trained it.' })
  fineTuneId: string | null;

  @ApiProperty({
    nullable: true,
    type: String,
    example: 'emoji-base',
    description: 'Base model it is for, when known (imports: the `baseModel` field, else the file’s `base_model` metadata; always one this service serves).',
  })
  baseModel: string | null;

  @ApiProperty({
    enum: ['peft', 'diffusers-legacy', 'kohya'],
    example: 'peft',
    description: 'Key naming of the file it came from: lora_A/lora_B (diffusers, peft), lora.down/lora.up (legacy diffusers) or lora_down/lora_up (kohya). The weights are served in diffusers/peft naming.',
  })
  format: string;

  @ApiProperty({ nullable: true, type: Number, example: 8 })
  rank: number | null;

  @ApiProperty({
    nullable: true,
    type: Number,
    example: 8,
    description:
      'LoRA alpha it was trained with (the most common over its layers). The served weights carry alpha/rank in lora_B and record alpha = rank, so every loader applies the same strength.',
  })
  alpha: number | null;

  @ApiProperty({ example: 64, description: 'Number of tensors in the served file.' })
  tensorCount: number;

  @ApiProperty({ example: 1048576, description: 'Size of the served .safetensors file.' })
  bytes: number;

  @ApiProperty({ example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', description: 'SHA-256 of the served file.' })
  sha256: string;

  @ApiProperty({
    nullable: true,
    type: String,
    example: 'mood board style',
    description: 'Trigger phrase the adapter was trained with: include it in prompts (imports: the file’s `style_phrase` metadata, when present).',
  })
  stylePhrase: string | null;

  @ApiProperty({
    example: 1,
    description: 'Scale to apply the adapter at (`adapters[].scale` of a generation); the fine-tune preview uses it. Imports: the file’s `recommended_scale` metadata, else 1.',
  })
  recommendedScale: number;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    nullable: true,
    example: { format: 'pt' },
    description: 'The `__metadata__` of the file as uploaded (imports) or written (fine-tunes).',
  })
  metadata: Record<string, string> | null;

  @ApiProperty({ format: 'date-time', example: '2025-11-26T10:00:00.000Z' })
  createdAt: string;
}

export class AdapterListDto {
  @ApiProperty({ type: [AdapterDto] })
  data: AdapterDto[];
}

/** The text fields of an adapter import (the file is read separately). */
export class ImportAdapterFieldsDto {
  @ApiProperty({ example: 'acme-style-from-kohya', maxLength: 200 })
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name: string;

  @BaseModelField('Base model the adapter was trained for, one of GET /v1/models (default: the file’s `base_model` metadata, if any). The file must fit it.')
  baseModel?: string;
}

export const IMPORT_ADAPTER_SCHEMA = {
  type: 'object',
  required: ['file', 'name'],
  properties: {
    file: { type: 'string', format: 'binary', description: 'LoRA weights as .safetensors (diffusers/peft, legacy diffusers or kohya key names).' },
    adapterConfig: {
      type: 'string',
      format: 'binary',
      description:
        'peft’s adapter_config.json, saved beside adapter_model.safetensors: its lora_alpha, r, rank_pattern and alpha_pattern give each layer’s alpha. Required for peft files that record no alpha themselves.',
    },
    name: { type: 'string', example: 'acme-style-from-kohya' },
    baseModel: { type: 'string', example: 'emoji-base', description: 'One of GET /v1/models; the file must fit it.' },
  },
};
