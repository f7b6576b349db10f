import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { MIN_IMAGES_FOR_FINE_TUNE, REJECTION_REASONS, RejectionReason } from './training-image';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class CreateDatasetDto {
  @ApiProperty({ example: 'Acme mood board', maxLength: 200 })
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name: string;
}

export class DatasetDto {
  @ApiProperty({ format: 'uuid', example: '8d2f5a6e-1c3b-4e7f-9a0b-5c6d7e8f9a0b' })
  id: string;

  @ApiProperty({ example: 'Acme mood board' })
  name: string;

  @ApiProperty({ example: 24, description: 'Images currently in the dataset.' })
  imageCount: number;

  @ApiProperty({ format: 'date-time', example: '2025-11-26T09:30:00.000Z' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', example: '2025-11-26T09:45:00.000Z' })
  updatedAt: string;
}

export class DatasetListDto {
  @ApiProperty({ type: [DatasetDto] })
  data: DatasetDto[];
}

export class DatasetImageDto {
  @ApiProperty({ format: 'uuid', example: '0b6e3c2a-7d4f-4a1b-8c9d-1e2f3a4b5c6d' })
  id: string;

  @ApiProperty({ example: 'mountain.png' })
  filename: string;

  @ApiProperty({ example: 'snow capped mountain under a low sun', description: 'Empty when none was given.' })
  caption: string;

  @ApiProperty({ example: 'image/png', enum: ['image/png', 'image/jpeg', 'image/webp'], description: 'Type of the original file.' })
  mimeType: string;

  @ApiProperty({ example: 48213, description: 'Size of the original file.' })
  bytes: number;

  @ApiProperty({ example: 512 })
  width: number;

  @ApiProperty({ example: 512 })
  height: number;

  @ApiProperty({ enum: ['upload', 'feedback'], example: 'upload', description: '`feedback`: a kept generation added back.' })
  source: string;

  @ApiProperty({ format: 'date-time', example: '2025-11-26T09:31:00.000Z' })
  createdAt: string;
}

export class CaptionStatsDto {
  @ApiProperty({ example: 20 })
  captioned: number;

  @ApiProperty({ example: 4 })
  uncaptioned: number;

  @ApiProperty({ example: 9.5, description: 'Mean words per caption over captioned images.' })
  meanWords: number;

  @ApiProperty({ example: 21 })
  maxWords: number;
}

export class TrainingReportDto {
  @ApiProperty({ example: 24, description: 'Images a fine-tune would train on.' })
  usableImages: number;

  @ApiProperty({ example: 3, description: 'Files refused by uploads to this dataset so far.' })
  rejectedFiles: number;

  @ApiProperty({ type: CaptionStatsDto })
  captions: CaptionStatsDto;

  @ApiProperty({ example: MIN_IMAGES_FOR_FINE_TUNE, description: 'Fewest images a fine-tune accepts.' })
  minImages: number;

  @ApiProperty({ example: true, description: 'Whether `POST /v1/fine-tunes` would accept this dataset.' })
  readyForFineTune: boolean;

  @ApiProperty({
    example: 32,
    nullable: true,
    type: Number,
    description: 'Side in pixels of the square training copies: the resolution of the default base model (as GET /v1/models reports it); null while it is not installed.',
  })
  trainingResolution: number | null;

  @ApiProperty({ type: [String], example: ['4 images have no caption; they train on the style alone'] })
  notes: string[];
}

export class DatasetDetailDto extends DatasetDto {
  @ApiProperty({ type: [DatasetImageDto] })
  images: DatasetImageDto[];

  @ApiProperty({ type: TrainingReportDto, description: 'Dry run: what a fine-tune would make of the dataset now.' })
  report: TrainingReportDto;
}

export class RejectedFileDto {
  @ApiProperty({ example: 'scan-03.tiff', description: 'The part’s file name, or the path inside the archive.' })
  filename: string;

  @ApiProperty({ enum: REJECTION_REASONS, example: 'unsupported_type' })
  reason: RejectionReason;

  @ApiProperty({ example: 'only PNG, JPEG and WebP images are accepted' })
  detail: string;
}

export class UploadResultDto {
  @ApiProperty({ type: [DatasetImageDto] })
  added: DatasetImageDto[];

  @ApiProperty({ type: [RejectedFileDto] })
  rejected: RejectedFileDto[];
}

/** The text fields of the multipart upload (the files are read separately). */
export class UploadImagesFieldsDto {
  @ApiPropertyOptional({
    description: 'JSON array of captions, exactly one per `images` part in the same order (null or "" for none); omit it for no captions.',
    example: '["a red fox", "snow capped mountain under a low sun"]',
  })
  @IsOptional()
  @IsString()
  captions?: string;
}

/** Schema of the multipart body for the docs and the SDK. */
export const UPLOAD_IMAGES_SCHEMA = {
  type: 'object',
  properties: {
    images: {
      type: 'array',
      items: { type: 'string', format: 'binary' },
      description: 'PNG, JPEG or WebP files; or a single .zip (images with .txt sidecar captions).',
    },
    captions: {
      type: 'string',
      description: 'JSON array of captions, exactly one per `images` part in the same order (null for none).',
      example: '["a red fox"]',
    },
    archive: {
      type: 'string',
      format: 'binary',
      description: 'A .zip of images; `name.txt` next to `name.png` is its caption.',
    },
  },
};
