import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsNotEmpty, IsNumber, IsObject, IsOptional, IsString, IsUrl, IsUUID, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { DEFAULT_FINE_TUNE_HYPERPARAMETERS as D, LORA_TARGETS, type LoraTargets } from '../engine';
import { BaseModelField } from '../models/base-model.decorator';
import { WebhookDeliveryDto } from '../webhooks/webhooks.dto';
import type { FineTuneMethod, FineTuneStatus } from './fine-tune.entity';
import { FINE_TUNE_WEBHOOK_EVENTS } from './fine-tune-webhooks';
import { normalizeStylePhrase, STYLE_PHRASE_MAX_LENGTH, WITHOUT_CONTROL_CHARACTERS } from './style-phrase';

export const FINE_TUNE_METHODS: FineTuneMethod[] = ['dro', 'sft'];
export const FINE_TUNE_STATUSES: FineTuneStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
/** Layers a LoRA adapts (the engine's target sets). */
export const FINE_TUNE_TARGETS = LORA_TARGETS;
export type FineTuneTargets = LoraTargets;

const finite = { allowNaN: false, allowInfinity: false } as const;

/*
 * Types and cost ceilings are checked here; the trainer's own rules (validateHyperparameters: lr in
 * (0, 1), dropout in [0, 1), ...) run in the service, so the two can never disagree.
 */
export class FineTuneHyperparametersDto {
  @ApiProperty({ example: D.steps, minimum: 1, maximum: 20000, description: 'Optimiser steps.' })
  @IsInt()
  @Max(20000)
  steps: number;

  @ApiProperty({ example: D.batchSize, minimum: 1, maximum: 64, description: 'Expert samples per step (DRO pairs each with a policy sample).' })
  @IsInt()
  @Max(64)
  batchSize: number;

  @ApiProperty({ example: D.rank, minimum: 1, maximum: 128, description: 'LoRA rank (ignored when continuing from an adapter: its rank is kept).' })
  @IsInt()
  @Max(128)
  rank: number;

  @ApiProperty({ example: D.alpha, maximum: 1024, description: 'LoRA alpha; the update is scaled by alpha / rank.' })
  @IsNumber(finite)
  @Max(1024)
  alpha: number;

  @ApiProperty({ example: D.lr, description: 'AdamW learning rate, in (0, 1).' })
  @IsNumber(finite)
  lr: number;

  @ApiProperty({ example: D.margin, maximum: 10, description: 'DRO hinge margin.' })
  @IsNumber(finite)
  @Max(10)
  margin: number;

  @ApiProperty({ example: D.captionDropout, description: 'Share of samples trained with an empty caption, in [0, 1).' })
  @IsNumber(finite)
  captionDropout: number;

  @ApiProperty({ example: D.gradClip, maximum: 1000, description: 'Gradient norm clip.' })
  @IsNumber(finite)
  @Max(1000)
  gradClip: number;

  @ApiProperty({ example: D.emaDecay, description: 'EMA decay of the returned weights, in [0, 1).' })
  @IsNumber(finite)
  emaDecay: number;

  @ApiProperty({ example: D.policyRefreshSteps, minimum: 1, maximum: 100000, description: 'DRO: refresh the sampling policy from the trained weights every this many steps.' })
  @IsInt()
  @Max(100000)
  policyRefreshSteps: number;

  @ApiProperty({ example: D.bufferCapacity, minimum: 1, maximum: 64, description: 'DRO: trajectories kept in the replay buffer.' })
  @IsInt()
  @Max(64)
  bufferCapacity: number;

  @ApiProperty({ example: D.bufferBatch, minimum: 1, maximum: 32, description: 'DRO: trajectories sampled per buffer refill.' })
  @IsInt()
  @Max(32)
  bufferBatch: number;

  @ApiProperty({ example: D.bufferSampleEvery, minimum: 1, maximum: 100000, description: 'DRO: refill the buffer every this many steps.' })
  @IsInt()
  @Max(100000)
  bufferSampleEvery: number;

  @ApiProperty({ example: D.samplingSteps, minimum: 1, maximum: 100, description: 'DRO: solver steps per policy trajectory.' })
  @IsInt()
  @Max(100)
  samplingSteps: number;

  @ApiProperty({ example: D.policyGuidance, minimum: 1, maximum: 20, description: 'DRO: classifier-free guidance of the policy trajectories (1 = none, as published).' })
  @IsNumber(finite)
  @Max(20)
  policyGuidance: number;

  @ApiProperty({ example: D.sftWeight, minimum: 0, maximum: 100, description: 'DRO: weight of the SFT anchor added to the hinge (0 = the published loss).' })
  @IsNumber(finite)
  @Max(100)
  sftWeight: number;

  @ApiProperty({ example: D.preservationWeight, minimum: 0, maximum: 100, description: 'Weight of output preservation: on each caption without the style phrase the adapted model is held to the base model, so the adapter keys the style on the phrase (0 = off).' })
  @IsNumber(finite)
  @Min(0)
  @Max(100)
  preservationWeight: number;

  @ApiProperty({ example: D.maxTimestepFraction, description: 'Train only at timesteps below this share of the noise schedule, in (0, 1] (1 = all).' })
  @IsNumber(finite)
  maxTimestepFraction: number;

  @ApiProperty({ example: D.minSnrGamma, minimum: 0, maximum: 1000, description: 'Min-SNR-γ weighting of the denoising loss (SFT and the DRO anchor): rows weigh min(SNR, γ)/(SNR + 1); 0 = off.' })
  @IsNumber(finite)
  @Min(0)
  @Max(1000)
  minSnrGamma: number;

  @ApiProperty({ example: D.mirrorAugmentation, description: 'Also train on each image flipped left to right (leave off for brands with text or handed marks).' })
  @IsBoolean()
  mirrorAugmentation: boolean;

  @ApiProperty({ example: D.seed, minimum: 0, maximum: 2147483647 })
  @IsInt()
  @Max(2147483647)
  seed: number;

  @ApiPropertyOptional({
    enum: FINE_TUNE_TARGETS,
    example: D.targets,
    description:
      'Layers the LoRA adapts: `attention` (the attention projections), `attention+ff` (plus the feed-forward layers), `blocks` ' +
      '(every linear and convolution layer of the down, mid and up blocks: ResNet conv1/conv2/shortcut, proj_in/proj_out, down/up samplers; ' +
      'the default), `decoder` (the `blocks` layers of the up blocks only) or `all` (`blocks` plus conv_in/conv_out).',
  })
  @IsOptional()
  @IsIn(FINE_TUNE_TARGETS, { message: `targets must be one of: ${FINE_TUNE_TARGETS.join(', ')}` })
  targets?: FineTuneTargets;
}

/** Any subset of the hyperparameters; the rest take the defaults shown in FineTuneHyperparametersDto. */
export class FineTuneHyperparametersInputDto extends PartialType(FineTuneHyperparametersDto) {}

export class CreateFineTuneDto {
  @ApiProperty({ format: 'uuid', example: '8d2f5a6e-1c3b-4e7f-9a0b-5c6d7e8f9a0b', description: 'A dataset with at least 4 images.' })
  @IsUUID('all', { message: 'datasetId must be a UUID' })
  datasetId: string;

  @BaseModelField()
  baseModel?: string;

  @ApiProperty({ enum: FINE_TUNE_METHODS, example: 'dro', description: '`dro`: Diffusion-DRO (rank the examples above the model’s own samples); `sft`: plain denoising fine-tune.' })
  @IsIn(FINE_TUNE_METHODS, { message: 'method must be one of: dro, sft' })
  method: FineTuneMethod;

  @ApiPropertyOptional({ type: FineTuneHyperparametersInputDto, example: { steps: 300, rank: 8, lr: 0.001 } })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => FineTuneHyperparametersInputDto)
  hyperparameters?: FineTuneHyperparametersInputDto;

  @ApiPropertyOptional({
    example: 'acme style',
    maxLength: STYLE_PHRASE_MAX_LENGTH,
    description:
      'Trigger phrase appended to every training caption that lacks it ("a red fox" → "a red fox, acme style"); write it in prompts ' +
      'to call up the style. Lower-cased, trimmed, inner whitespace collapsed. Default: the dataset name followed by "style" ' +
      '("Mood board" → "mood board style"). The bundled model’s word-level tokenizer reads words it does not know as [UNK]; ' +
      'such a phrase still works as a trigger token sequence.',
  })
  @IsOptional()
  @IsString({ message: 'stylePhrase must be a string' })
  @Matches(WITHOUT_CONTROL_CHARACTERS, { message: 'stylePhrase must not contain control characters (tabs, newlines, ...)' })
  // Normalised only when valid, so a tab or newline is reported rather than collapsed into a space.
  @Transform(({ value }) => (typeof value === 'string' && WITHOUT_CONTROL_CHARACTERS.test(value) ? normalizeStylePhrase(value) : value))
  @IsNotEmpty({ message: 'stylePhrase must not be empty' })
  @MaxLength(STYLE_PHRASE_MAX_LENGTH, { message: `stylePhrase must be at most ${STYLE_PHRASE_MAX_LENGTH} characters` })
  stylePhrase?: string;

  @ApiPropertyOptional({ example: 'https://hooks.example.com/saas', maxLength: 2048, description: 'Called when the job ends (http or https).' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false }, { message: 'webhookUrl must be an http or https URL' })
  webhookUrl?: string;

  @ApiPropertyOptional({
    format: 'uuid',
    example: '5e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b',
    description: 'Online round: continue training this adapter (and its optimiser state when it was trained here) instead of starting fresh.',
  })
  @IsOptional()
  @IsUUID('all', { message: 'initAdapterId must be a UUID' })
  initAdapterId?: string;
}

export class FineTuneProgressDto {
  @ApiProperty({ example: 120, description: 'Steps completed.' })
  step: number;

  @ApiProperty({ example: 300 })
  totalSteps: number;
}

export class PreviewConceptTop5Dto {
  @ApiProperty({ example: 0.75, description: 'Share of the images without the adapter whose prompted concept is in the scorer’s top 5.' })
  base: number;

  @ApiProperty({ example: 0.625, description: 'The same share with the adapter.' })
  adapter: number;
}

export class FineTunePreviewDto {
  @ApiProperty({ enum: ['available', 'unavailable'], example: 'available', description: '`unavailable`: generating the preview failed (the adapter is still registered).' })
  status: 'available' | 'unavailable';

  @ApiProperty({ nullable: true, type: String, example: '/v1/fine-tunes/0f6c2a1e-7b3d-4c5e-8f9a-1b2c3d4e5f60/preview', description: 'The PNG grid, when available.' })
  url: string | null;

  @ApiProperty({ type: [String], example: ['sun, cartoon style', 'smiling face, cartoon style'], description: 'One grid row per prompt (prompts the dataset does not use, with the style phrase).' })
  prompts: string[];

  @ApiProperty({ type: 'integer', isArray: true, example: [1, 2], description: 'Seeds: each half of a row has one image per seed.' })
  seeds: number[];

  @ApiProperty({ example: 1, description: 'Adapter scale of the right-hand half (the adapter’s recommendedScale).' })
  scale: number;

  @ApiProperty({ example: 20, description: 'Sampling steps (dpmpp-2m).' })
  steps: number;

  @ApiProperty({ example: 4 })
  guidanceScale: number;

  @ApiProperty({
    type: PreviewConceptTop5Dto,
    nullable: true,
    description: 'Concept accuracy under the base model’s scorer (emoji-base with models/emoji-scorer installed); null without a scorer.',
  })
  conceptTop5: PreviewConceptTop5Dto | null;

  @ApiProperty({ nullable: true, type: Number, example: null, description: 'Reserved for a brand-fidelity score; null until it is measured.' })
  fidelity: number | null;

  @ApiProperty({ nullable: true, type: String, example: null, description: 'Why the preview is unavailable.' })
  error: string | null;
}

export class FineTuneDto {
  @ApiProperty({ format: 'uuid', example: '0f6c2a1e-7b3d-4c5e-8f9a-1b2c3d4e5f60' })
  id: string;

  @ApiProperty({ enum: FINE_TUNE_STATUSES, example: 'running' })
  status: FineTuneStatus;

  @ApiProperty({ enum: FINE_TUNE_METHODS, example: 'dro' })
  method: FineTuneMethod;

  @ApiProperty({ example: 'emoji-base' })
  baseModel: string;

  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: '8d2f5a6e-1c3b-4e7f-9a0b-5c6d7e8f9a0b', description: 'Null once the dataset is deleted.' })
  datasetId: string | null;

  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null, description: 'The adapter this round continued from.' })
  initAdapterId: string | null;

  @ApiProperty({
    nullable: true,
    type: String,
    example: 'cartoon style',
    description: 'Trigger phrase appended to the training captions: write it in prompts to call up the style (null for jobs created before style phrases).',
  })
  stylePhrase: string | null;

  @ApiProperty({ type: FineTuneHyperparametersDto, description: 'Every hyperparameter the job uses (defaults filled in).' })
  hyperparameters: FineTuneHyperparametersDto;

  @ApiProperty({ type: FineTuneProgressDto })
  progress: FineTuneProgressDto;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'number', nullable: true },
    nullable: true,
    example: { loss: 0.0009, expertDiff: -0.0012, policyDiff: 0.0004, activeFraction: 0.5, gradNorm: 0.03, stepsPerSecond: 1.8, elapsedSeconds: 66 },
    description: 'Latest training metrics (loss, DRO expert/policy loss differences, steps per second, ...).',
  })
  metrics: Record<string, number | null> | null;

  @ApiProperty({ format: 'uuid', nullable: true, type: String, example: null, description: 'The trained adapter, once succeeded.' })
  adapterId: string | null;

  @ApiProperty({
    type: FineTunePreviewDto,
    nullable: true,
    description:
      'Validation preview of a succeeded job: prompts outside the dataset generated without and with the adapter, as one PNG grid ' +
      '(rows: prompts; columns: without | with, one image per seed). Null until the job succeeded.',
  })
  preview: FineTunePreviewDto | null;

  @ApiProperty({ nullable: true, type: String, example: null, description: 'Why the job failed.' })
  error: string | null;

  @ApiProperty({ example: false, description: 'Cancellation was asked for; a running job stops at its next step.' })
  cancelRequested: boolean;

  @ApiProperty({ nullable: true, type: String, example: null })
  webhookUrl: string | null;

  @ApiProperty({ example: 1, description: 'Times a worker took the job (more than 1: resumed after a worker stopped).' })
  attempts: number;

  @ApiProperty({ format: 'date-time', example: '2025-11-26T10:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, example: '2025-11-26T10:00:02.000Z' })
  startedAt: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, example: null })
  finishedAt: string | null;
}

export class FineTuneListDto {
  @ApiProperty({ type: [FineTuneDto] })
  data: FineTuneDto[];
}

/** One webhook delivery of a fine-tune: the outbox's record, with the events a fine-tune sends spelled out. */
export class FineTuneWebhookDeliveryDto extends OmitType(WebhookDeliveryDto, ['event'] as const) {
  @ApiProperty({ enum: FINE_TUNE_WEBHOOK_EVENTS, example: 'fine_tune.succeeded', description: 'The event type, as sent in the body’s `type` and in X-Saas-Event.' })
  event: string;
}

export class FineTuneWebhookDeliveryListDto {
  @ApiProperty({ type: [FineTuneWebhookDeliveryDto] })
  data: FineTuneWebhookDeliveryDto[];
}
