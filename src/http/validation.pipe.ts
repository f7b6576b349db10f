import { BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';

/** "adapters.0.scale must not be less than 0": each message names the full path of the field. */
export function flattenValidationErrors(errors: ValidationError[], parentPath = ''): string[] {
  const messages: string[] = [];
  for (const error of errors) {
    const path = parentPath ? `${parentPath}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      if (parentPath && message.startsWith(error.property)) messages.push(`${path}${message.slice(error.property.length)}`);
      // Unknown nested fields: "property hyperparameters.foo should not exist".
      else if (parentPath && message === `property ${error.property} should not exist`) messages.push(`property ${path} should not exist`);
      else messages.push(message);
    }
    if (error.children?.length) messages.push(...flattenValidationErrors(error.children, path));
  }
  return messages;
}

/** The single global pipe: unknown fields are errors, payloads become DTO instances. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => new BadRequestException(flattenValidationErrors(errors).join('; ')),
  });
}
