import { applyDecorators, BadRequestException, Param, ParseUUIDPipe } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';

/** A path parameter that must be a resource id (UUID); anything else is a 400 naming the parameter. */
export const IdParam = (name = 'id') =>
  Param(name, new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException(`${name} must be a UUID`) }));

/** Documents an id path parameter (pairs with IdParam). */
export const ApiIdParam = (description: string, name = 'id') =>
  applyDecorators(ApiParam({ name, description, schema: { type: 'string', format: 'uuid' } }));
