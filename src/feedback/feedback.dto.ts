import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsISO8601, IsOptional, IsUUID, Max, Min } from 'class-validator';
import type { FeedbackSignalKind } from './feedback-signal.entity';

export const FEEDBACK_SIGNALS: FeedbackSignalKind[] = ['selected', 'downloaded', 'liked', 'discarded'];
/** Signals that mean "keep this one": the image becomes a demonstration unless discarded later. */
export const POSITIVE_SIGNALS: FeedbackSignalKind[] = ['selected', 'downloaded', 'liked'];

export class CreateFeedbackDto {
  @ApiProperty({ minimum: 0, maximum: 7, example: 0, description: 'Which image of the generation.' })
  @IsInt()
  @Min(0)
  @Max(7)
  imageIndex: number;

  @ApiProperty({ enum: FEEDBACK_SIGNALS, example: 'liked', description: '`selected`, `downloaded` and `liked` keep the image; `discarded` drops it.' })
  @IsIn(FEEDBACK_SIGNALS, { message: `signal must be one of: ${FEEDBACK_SIGNALS.join(', ')}` })
  signal: FeedbackSignalKind;
}

export class FeedbackDto {
  @ApiProperty({ format: 'uuid', example: '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' })
  id: string;

  @ApiProperty({ format: 'uuid', example: '2b7c9d4e-1f3a-4b5c-8d6e-7f8091a2b3c4' })
  generationId: string;

  @ApiProperty({ example: 0 })
  imageIndex: number;

  @ApiProperty({ enum: FEEDBACK_SIGNALS, example: 'liked' })
  signal: FeedbackSignalKind;

  @ApiProperty({ format: 'date-time', example: '2025-11-26T10:06:00.000Z' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, example: null, description: 'When a dataset took the image in.' })
  consumedAt: string | null;
}

export class FeedbackListDto {
  @ApiProperty({ type: [FeedbackDto] })
  data: FeedbackDto[];
}

export class AddFromFeedbackDto {
  @ApiPropertyOptional({ format: 'date-time', example: '2025-11-26T00:00:00.000Z', description: 'Only images kept at or after this time.' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'since must be an ISO 8601 date-time' })
  since?: string;

  @ApiPropertyOptional({ format: 'uuid', example: '5e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b', description: 'Only images generated with this adapter.' })
  @IsOptional()
  @IsUUID('all', { message: 'adapterId must be a UUID' })
  adapterId?: string;
}
