import { BUNDLED_MODEL_NAME, GENERATION_DEFAULTS, SCHEDULER_NAMES, type SamplerName } from '../engine';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { BaseModelField } from '../models/base-model.decorator';

export const MAX_SEED = 2 ** 31 - 1;
/** Largest adapter strength a generation accepts (and the most an adapter may recommend). */
export const MAX_ADAPTER_SCALE = 2;
const finite = { allowNaN: false, allowInfinity: false } as const;
/** A prompt the bundled model reads in full: an emoji name, then an adapter's style phrase. */
const PROMPT_EXAMPLE = 'cat face, cartoon style';
const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class GenerationAdapterDto {
  @ApiProperty({ format: 'uuid', example: '5e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b', description: 'One of your adapters.' })
  @IsUUID('all', { message: 'id must be a UUID' })
  id: string;

  @ApiPropertyOptional({ minimum: -MAX_ADAPTER_SCALE, maximum: MAX_ADAPTER_SCALE, example: 0.8, description: "Strength; 0 is the base model, negative pushes away from the style. Default: the adapter's recommendedScale (what its fine-tune chose; 1 for most imports)." })
  @IsOptional()
  @IsNumber(finite)
  @Min(-MAX_ADAPTER_SCALE)
  @Max(MAX_ADAPTER_SCALE)
  scale?: number;
}

export class CreateGenerationDto {
  @ApiProperty({
    minLength: 1,
    maxLength: 500,
    example: PROMPT_EXAMPLE,
    description: 'What to draw. The bundled model knows short lowercase emoji names (`red heart`, `cat face`), optionally followed by a style phrase after a comma; `unknownWords` in the response lists the words it did not understand.',
  })
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  prompt: string;

  @ApiPropertyOptional({ maxLength: 500, example: 'twemoji style', description: 'What to steer away from (with guidance).' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  negativePrompt?: string;

  @ApiPropertyOptional({ type: [GenerationAdapterDto], maxItems: 4, description: 'LoRA adapters applied together, each with its scale.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(4)
  @ValidateNested({ each: true })
  @Type(() => GenerationAdapterDto)
  adapters?: GenerationAdapterDto[];

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_SEED, example: 42, description: 'Same seed and parameters, same images. Random when omitted (and echoed).' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_SEED)
  seed?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 50, default: GENERATION_DEFAULTS.steps, example: GENERATION_DEFAULTS.steps, description: 'Sampler steps.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(50)
  steps?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 20, default: GENERATION_DEFAULTS.guidanceScale, example: GENERATION_DEFAULTS.guidanceScale, description: 'Classifier-free guidance scale (1: no guidance).' })
  @IsOptional()
  @IsNumber(finite)
  @Min(0)
  @Max(20)
  guidanceScale?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 8, default: GENERATION_DEFAULTS.numImages, example: 2 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(8)
  numImages?: number;

  @ApiPropertyOptional({ enum: SCHEDULER_NAMES, default: GENERATION_DEFAULTS.scheduler, example: GENERATION_DEFAULTS.scheduler })
  @IsOptional()
  @IsIn(SCHEDULER_NAMES, { message: `scheduler must be one of: ${SCHEDULER_NAMES.join(', ')}` })
  scheduler?: SamplerName;

  @ApiPropertyOptional({
    type: 'integer',
    example: 32,
    description:
      "Image width in pixels; the base model's native width when omitted. A multiple of the model's `sizes.multiple` up to `sizes.maxWidth` (GET /v1/models), " +
      'and small enough that the estimated activation memory of all images fits the server\'s budget; otherwise a 400 names the allowed values.',
  })
  @IsOptional()
  @IsInt()
  width?: number;

  @ApiPropertyOptional({ type: 'integer', example: 32, description: "Image height in pixels; the base model's native height when omitted. Same rules as `width`." })
  @IsOptional()
  @IsInt()
  height?: number;

  @BaseModelField()
  baseModel?: string;
}

export class GenerationAdapterUseDto {
  @ApiProperty({ format: 'uuid', example: '5e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b' })
  id: string;

  @ApiProperty({ example: 0.8 })
  scale: number;
}

export class GenerationImageDto {
  @ApiProperty({ example: 0 })
  index: number;

  @ApiProperty({ example: 'image/png', enum: ['image/png'] })
  mimeType: string;

  @ApiPropertyOptional({ format: 'byte', description: 'The PNG, base64; only in the response that created the generation.' })
  data?: string;

  @ApiProperty({ example: '/v1/generations/2b7c9d4e-1f3a-4b5c-8d6e-7f8091a2b3c4/images/0', description: 'Where to fetch the PNG later (same credentials).' })
  url: string;

  @ApiProperty({ example: 32 })
  width: number;

  @ApiProperty({ example: 32 })
  height: number;

  @ApiProperty({ example: 2011, description: 'Size of the PNG.' })
  bytes: number;
}

export class GenerationDto {
  @ApiProperty({ format: 'uuid', example: '2b7c9d4e-1f3a-4b5c-8d6e-7f8091a2b3c4' })
  id: string;

  @ApiProperty({ example: 42, description: 'The seed used (the given one or the random one drawn).' })
  seed: number;

  @ApiProperty({ example: BUNDLED_MODEL_NAME, description: 'Base model that generated the images.' })
  model: string;

  @ApiProperty({ example: PROMPT_EXAMPLE })
  prompt: string;

  @ApiProperty({ nullable: true, type: String, example: null })
  negativePrompt: string | null;

  @ApiProperty({
    type: [String],
    example: [],
    description:
      'Words of the prompt and negative prompt that the base model does not know, as it read them (lower case; punctuation is not listed). ' +
      'It reads every such word as the same unknown token, so they do not steer the image; an adapter’s style phrase made of new words still calls up its style. ' +
      'Rephrase with words of the model’s captions (for the bundled model: emoji names and tags).',
  })
  unknownWords: string[];

  @ApiProperty({ type: [GenerationAdapterUseDto] })
  adapters: GenerationAdapterUseDto[];

  @ApiProperty({ example: GENERATION_DEFAULTS.steps })
  steps: number;

  @ApiProperty({ example: GENERATION_DEFAULTS.guidanceScale })
  guidanceScale: number;

  @ApiProperty({ example: GENERATION_DEFAULTS.numImages })
  numImages: number;

  @ApiProperty({ enum: SCHEDULER_NAMES, example: GENERATION_DEFAULTS.scheduler })
  scheduler: string;

  @ApiProperty({ example: 32, description: 'Width of the images in pixels.' })
  width: number;

  @ApiProperty({ example: 32, description: 'Height of the images in pixels.' })
  height: number;

  @ApiProperty({ nullable: true, type: Number, example: 850, description: 'Time from request to images, in milliseconds.' })
  durationMs: number | null;

  @ApiProperty({ type: [GenerationImageDto] })
  images: GenerationImageDto[];

  @ApiProperty({ format: 'date-time', example: '2025-11-26T10:05:00.000Z' })
  createdAt: string;
}

export class GenerationListDto {
  @ApiProperty({ type: [GenerationDto] })
  data: GenerationDto[];
}

export class ImageQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 16, default: 1, example: 8, description: 'Enlarge by this factor with nearest-neighbour sampling, for viewing.' })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : value))
  @IsInt({ message: 'upscale must be an integer' })
  @Min(1)
  @Max(16)
  upscale?: number;
}
