import { ArgumentMetadata, BadRequestException, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { RejectedBody } from './json-body';

/**
 * Checks of what a value is; they are reported before checks of its range or form, whatever the
 * order of the decorators: "must be an integer" is the useful answer to `"NaN"`, not "must not be
 * less than 0".
 */
const TYPE_CONSTRAINTS = new Set(['isDefined', 'isString', 'isNumber', 'isInt', 'isBoolean', 'isArray', 'isObject']);

/** class-validator defaults that read poorly, by constraint: [default ending, clearer ending]. */
const CLEARER_DEFAULTS: Record<string, [string, string]> = {
  // Also the answer to 1e309, which JSON parsing turns into Infinity.
  isNumber: [' must be a number conforming to the specified constraints', ' must be a finite number'],
  isInt: [' must be an integer number', ' must be an integer'],
};

const SHOWN_STRING_LENGTH = 40;

/** What the client sent, short enough for an error message. */
function describeReceived(value: unknown): string {
  if (value === undefined) return 'but it is missing';
  if (typeof value === 'string') {
    return value.length > SHOWN_STRING_LENGTH ? `got a string of ${value.length} characters` : `got ${JSON.stringify(value)}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value) && !Number.isNaN(value)) return 'got a number beyond the double-precision range';
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return `got ${value}`;
  if (Array.isArray(value)) return `got an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  return `got ${typeof value === 'object' ? 'an object' : typeof value}`;
}

/** The rule a field broke first: a type check if any, else the first decorator written. */
function firstBroken(constraints: Record<string, string>): [string, string] {
  // Decorators apply bottom-up, so class-validator lists a property's failures in reverse source order.
  const inSourceOrder = Object.entries(constraints).reverse();
  return inSourceOrder.find(([name]) => TYPE_CONSTRAINTS.has(name)) ?? inSourceOrder[0];
}

function describeFailure(error: ValidationError, path: string): string {
  const [constraint, raw] = firstBroken(error.constraints!);
  if (constraint === 'whitelistValidation') return `property ${path} should not exist`;
  if (constraint === 'nestedValidation') return `${path} must be an object, ${describeReceived(error.value)}`;
  let message = raw;
  // class-validator names the property alone; nested fields get their full path.
  if (message.startsWith(`${error.property} `)) message = `${path}${message.slice(error.property.length)}`;
  else if (message.startsWith(`each value in ${error.property} `)) message = `each value in ${path}${message.slice(`each value in ${error.property}`.length)}`;
  const clearer = CLEARER_DEFAULTS[constraint];
  if (clearer && message.endsWith(clearer[0])) message = `${message.slice(0, -clearer[0].length)}${clearer[1]}`;
  return `${message}, ${describeReceived(error.value)}`;
}

/**
 * One message per field, with its full path ("adapters.0.scale must not be greater than 2, got 3"):
 * the first rule it broke and what was received.
 */
export function flattenValidationErrors(errors: ValidationError[], parentPath = ''): string[] {
  const messages: string[] = [];
  for (const error of errors) {
    const path = parentPath ? `${parentPath}.${error.property}` : error.property;
    if (error.constraints && Object.keys(error.constraints).length > 0) messages.push(describeFailure(error, path));
    if (error.children?.length) messages.push(...flattenValidationErrors(error.children, path));
  }
  return messages;
}

function isJsonObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Unknown fields are errors, payloads become DTO instances, bodies must be JSON objects. */
@Injectable()
class ApiValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: (errors) => new BadRequestException(flattenValidationErrors(errors).join('; ')),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body') {
      if (value instanceof RejectedBody) throw value.error;
      if (value !== undefined && !isJsonObject(value)) throw new BadRequestException('body must be a JSON object');
    }
    return super.transform(value, metadata);
  }
}

/** The single global pipe (registered by createApp). */
export function createValidationPipe(): ValidationPipe {
  return new ApiValidationPipe();
}
