import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { BUNDLED_MODEL_NAME } from '../engine';

/** What a base model id looks like: a folder name in MODELS_DIR. */
export const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MODEL_ID_MAX_LENGTH = 200;

/** The optional `baseModel` field of a request body: documented and validated the same way everywhere. */
export function BaseModelField(description = 'Installed base model (GET /v1/models); the bundled one when omitted.'): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ example: BUNDLED_MODEL_NAME, maxLength: MODEL_ID_MAX_LENGTH, description }),
    IsOptional(),
    IsString(),
    MaxLength(MODEL_ID_MAX_LENGTH),
    Matches(MODEL_ID, { message: 'baseModel must be a model id from GET /v1/models' }),
  );
}
