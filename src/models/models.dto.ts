import { ApiProperty } from '@nestjs/swagger';

export class BaseModelDto {
  @ApiProperty({ example: 'emoji-base', description: 'Folder name under MODELS_DIR; use it as `baseModel`.' })
  id: string;

  @ApiProperty({ example: 64, nullable: true, type: Number, description: 'Native image side in pixels, when the configs tell.' })
  resolution: number | null;

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
