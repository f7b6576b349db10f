import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import express, { NextFunction, Request, Response } from 'express';
import { mkdirSync } from 'node:fs';
import { AppModule } from './app.module';
import { resolveAdminToken, ResolvedAdminToken } from './config/admin-token';
import type { AppConfig } from './config/app-config';
import type { RuntimeConfig } from './config/config.module';
import { jsonBodyMiddleware } from './http/json-body';
import { createValidationPipe } from './http/validation.pipe';
import { createAppLogger } from './logging/app.logger';
import { MetricsService } from './metrics/metrics.service';
import { buildOpenApiDocument } from './openapi/openapi-document';

export interface CreatedApp {
  app: NestExpressApplication;
  /** The OpenAPI document served at /openapi.json (keys sorted). */
  document: OpenAPIObject;
  config: RuntimeConfig;
  adminToken: ResolvedAdminToken;
}

/**
 * Builds the configured (not yet listening) application: used by `main.ts`, the OpenAPI CLI and the tests,
 * so all three see the same routes, pipes, filters and documents.
 */
export async function createApp(config: AppConfig): Promise<CreatedApp> {
  mkdirSync(config.dataDir, { recursive: true });
  const adminToken = resolveAdminToken(config.dataDir, config.adminToken);
  const runtime: RuntimeConfig = { ...config, adminToken: adminToken.token };
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(runtime), {
    bodyParser: false,
    logger: createAppLogger(config.logLevels, config.logFormat),
    abortOnError: false,
  });
  if (adminToken.source !== 'env') {
    new Logger('Auth').log(
      adminToken.source === 'generated'
        ? `ADMIN_TOKEN is not set: generated one and stored it in ${adminToken.path} (mode 0600)`
        : `ADMIN_TOKEN is not set: using the one stored in ${adminToken.path}`,
    );
  }

  const http = app.getHttpAdapter().getInstance() as express.Express;
  http.disable('x-powered-by');
  // First middleware, so every response is timed, errors and rejected requests included.
  const metrics = app.get(MetricsService);
  app.use((request: Request, response: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    response.once('finish', () => {
      // The route template (`/v1/fine-tunes/:id`), never the raw path: ids would explode the label set.
      const route = request.route?.path ? `${request.baseUrl ?? ''}${request.route.path}` : 'unmatched';
      metrics.observeHttp(request.method, route, response.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  });
  for (const handler of jsonBodyMiddleware(config.limits.jsonBodyBytes)) app.use(handler);
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();

  // Before init: routes added later would sit behind Nest's catch-all 404 handler.
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'openapi.json',
    raw: ['json'],
    customSiteTitle: 'Style-as-a-Service API',
    swaggerOptions: { displayOperationId: true, persistAuthorization: true },
  });
  await app.init();
  return { app, document, config: runtime, adminToken };
}
