import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

export const API_TITLE = 'Style-as-a-Service API';
export const API_VERSION = '1.0.0';

/** Sorts object keys at every depth (arrays keep their order) so the committed spec diffs cleanly. */
export function sortKeysDeep<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => sortKeysDeep(item)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeysDeep((value as Record<string, unknown>)[key]);
    return sorted as T;
  }
  return value;
}

/** The OpenAPI document of the app: `operationId` is the controller method name. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle(API_TITLE)
    .setDescription(
      'Learn a customer’s visual style from example images (LoRA fine-tuning of a diffusion model with ' +
        'Diffusion-DRO) and generate images in that style. Tenant endpoints take `Authorization: Bearer <API key>`; ' +
        '`/v1/tenants` takes the operator’s admin token. Errors are `{ statusCode, error, message }`.',
    )
    .setVersion(API_VERSION)
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'API key',
      description: 'A tenant API key (`sk_…`), or the admin token for /v1/tenants',
    })
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey: string, methodKey: string) => methodKey,
  });
  return sortKeysDeep(document);
}

/** The committed form of the spec: sorted, two-space indented, trailing newline. */
export function serializeOpenApiDocument(document: OpenAPIObject): string {
  return `${JSON.stringify(sortKeysDeep(document), null, 2)}\n`;
}
