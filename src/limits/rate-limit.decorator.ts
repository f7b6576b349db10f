import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from '../http/error-response.dto';

export type RateLimitBucketName = 'requests' | 'generations';
export const RATE_LIMIT_BUCKET = 'saas:rate-limit-bucket';

/** Draws from a stricter bucket as well as the per-key request bucket (expensive endpoints). */
export const RateLimitBucket = (bucket: RateLimitBucketName) =>
  applyDecorators(
    SetMetadata(RATE_LIMIT_BUCKET, bucket),
    ApiTooManyRequestsResponse({
      type: ErrorResponseDto,
      description: 'Rate limit or quota exceeded; `Retry-After` says how many seconds to wait',
      headers: { 'Retry-After': { description: 'Seconds until a retry may succeed', schema: { type: 'integer' } } },
    }),
  );

