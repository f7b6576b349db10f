import { ApiProperty } from '@nestjs/swagger';

const STORED_DTYPES = ['fp16', 'fp32', 'bf16', 'fp64', 'mixed'];

export class ModelComponentDto {
  @ApiProperty({ example: 6_179_436, description: 'Parameters in its weights file(s).' })
  parameters: number;

  @ApiProperty({ enum: STORED_DTYPES, example: 'fp16', description: 'How the weights are stored (`mixed`: tensors of several types). Inference computes in float32 whatever the storage.' })
  dtype: string;
}

export class ModelComponentsDto {
  @ApiProperty({ type: ModelComponentDto, nullable: true, description: 'The denoiser (`unet/`); null without weights.' })
  unet: ModelComponentDto | null;

  @ApiProperty({ type: ModelComponentDto, nullable: true, description: 'The text encoder (`text_encoder/`); null without weights.' })
  textEncoder: ModelComponentDto | null;

  @ApiProperty({ type: ModelComponentDto, nullable: true, description: 'The AutoencoderKL (`vae/`) of a latent model; null for pixel-space models.' })
  vae: ModelComponentDto | null;
}

export class ModelSizesDto {
  @ApiProperty({ example: 8, description: '`width` and `height` of a generation must be multiples of this: the VAE factor (latent models) or patch size (pixel models) times the UNet\'s downsampling.' })
  multiple: number;

  @ApiProperty({ example: 128, description: 'Largest `width` (4 × the native side); an estimate of activation memory may refuse less for many images.' })
  maxWidth: number;

  @ApiProperty({ example: 128, description: 'Largest `height`.' })
  maxHeight: number;
}

export class BaseModelDto {
  @ApiProperty({ example: 'emoji-base', description: 'Folder name under MODELS_DIR; use it as `baseModel`.' })
  id: string;

  @ApiProperty({ example: 32, nullable: true, type: Number, description: 'Native image side in pixels (as `width`), when the configs tell.' })
  resolution: number | null;

  @ApiProperty({ example: 32, nullable: true, type: Number, description: 'Native image width in pixels: what a generation without `width` makes and fine-tunes train at.' })
  width: number | null;

  @ApiProperty({ example: 32, nullable: true, type: Number, description: 'Native image height in pixels.' })
  height: number | null;

  @ApiProperty({ enum: ['latent', 'pixel'], nullable: true, example: 'pixel', description: '`latent`: the UNet denoises VAE latents (Stable Diffusion); `pixel`: it denoises pixels, maybe folded into patches.' })
  space: 'latent' | 'pixel' | null;

  @ApiProperty({ nullable: true, type: Number, example: null, description: 'Latent models: image pixels per latent along each side (8 for Stable Diffusion).' })
  vaeScaleFactor: number | null;

  @ApiProperty({ nullable: true, type: Number, example: null, description: 'Latent models: channels of the latents (4 for Stable Diffusion).' })
  latentChannels: number | null;

  @ApiProperty({ nullable: true, type: Number, example: 2, description: 'Pixel models: pixels folded into one sample cell along each side.' })
  patchSize: number | null;

  @ApiProperty({ type: ModelSizesDto, nullable: true, description: 'The sizes a generation may ask for.' })
  sizes: ModelSizesDto | null;

  @ApiProperty({ type: ModelComponentsDto })
  components: ModelComponentsDto;

  @ApiProperty({ nullable: true, type: Number, example: 7_212_908, description: 'Parameters of all components together; null without weights.' })
  parameters: number | null;

  @ApiProperty({ enum: STORED_DTYPES, nullable: true, example: 'fp16', description: 'How the weights are stored: one type for every component, else `mixed`.' })
  dtype: string | null;

  @ApiProperty({ example: 'UNet2DConditionModel', nullable: true, type: String, description: 'Class of the denoiser (`unet/config.json`).' })
  unetClass: string | null;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { _class_name: 'StableDiffusionPipeline', _diffusers_version: '0.31.0' } })
  modelIndex: Record<string, unknown>;

  @ApiProperty({ nullable: true, type: String, description: 'The model card (README.md), Markdown.' })
  modelCard: string | null;
}

export class BaseModelListDto {
  @ApiProperty({ type: [BaseModelDto] })
  data: BaseModelDto[];
}
