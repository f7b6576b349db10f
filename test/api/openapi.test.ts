import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serializeOpenApiDocument } from '../../src/openapi/openapi-document';
import { generateOpenApiSpec } from '../../src/cli/openapi.cli';
import { startTestApp, TestApp } from '../support/test-app';

const COMMITTED = join(process.cwd(), 'openapi', 'openapi.json');

const OPERATIONS: Record<string, string> = {
  'GET /health': 'getHealth',
  'POST /v1/tenants': 'createTenant',
  'GET /v1/tenants': 'listTenants',
  'GET /v1/models': 'listModels',
  'GET /v1/models/{id}': 'getModel',
  'POST /v1/datasets': 'createDataset',
  'GET /v1/datasets': 'listDatasets',
  'GET /v1/datasets/{id}': 'getDataset',
  'DELETE /v1/datasets/{id}': 'deleteDataset',
  'POST /v1/datasets/{id}/images': 'uploadDatasetImages',
  'GET /v1/adapters': 'listAdapters',
  'POST /v1/adapters': 'importAdapter',
  'GET /v1/adapters/{id}': 'getAdapter',
  'GET /v1/adapters/{id}/weights': 'getAdapterWeights',
  'DELETE /v1/adapters/{id}': 'deleteAdapter',
  'POST /v1/fine-tunes': 'createFineTune',
  'GET /v1/fine-tunes': 'listFineTunes',
  'GET /v1/fine-tunes/{id}': 'getFineTune',
  'GET /v1/fine-tunes/{id}/events': 'streamFineTuneEvents',
  'POST /v1/fine-tunes/{id}/cancel': 'cancelFineTune',
  'POST /v1/generations': 'createGeneration',
  'GET /v1/generations': 'listGenerations',
  'GET /v1/generations/{id}': 'getGeneration',
  'GET /v1/generations/{id}/images/{index}': 'getGenerationImage',
  'POST /v1/generations/{id}/feedback': 'createFeedback',
  'GET /v1/generations/{id}/feedback': 'listFeedback',
  'POST /v1/datasets/{id}/images/from-feedback': 'addImagesFromFeedback',
};

type Spec = { paths: Record<string, Record<string, { operationId: string; requestBody?: { content: Record<string, unknown> }; security?: unknown[] }>>; components: { securitySchemes: Record<string, { scheme?: string }> } };

describe('OpenAPI spec', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('matches the committed openapi/openapi.json (run `npm run openapi` after API changes)', async () => {
    assert.equal(await generateOpenApiSpec(), readFileSync(COMMITTED, 'utf8'));
  });

  it('is what GET /openapi.json serves', async () => {
    const res = await t.http().get('/openapi.json');
    assert.equal(res.status, 200);
    assert.equal(serializeOpenApiDocument(res.body), readFileSync(COMMITTED, 'utf8'));
  });

  it('names every operation after its controller method', () => {
    const spec = JSON.parse(readFileSync(COMMITTED, 'utf8')) as Spec;
    const found: Record<string, string> = {};
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(methods)) found[`${method.toUpperCase()} ${path}`] = operation.operationId;
    }
    for (const [route, operationId] of Object.entries(OPERATIONS)) assert.equal(found[route], operationId, route);
    const ids = Object.values(found);
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  });

  it('documents bearer auth and the multipart bodies', () => {
    const spec = JSON.parse(readFileSync(COMMITTED, 'utf8')) as Spec;
    assert.equal(spec.components.securitySchemes.bearer.scheme, 'bearer');
    assert.ok(spec.paths['/v1/datasets']['post'].security);
    assert.equal(spec.paths['/health']['get'].security, undefined);
    for (const path of ['/v1/datasets/{id}/images', '/v1/adapters']) {
      assert.ok(spec.paths[path].post.requestBody?.content['multipart/form-data'], path);
    }
  });

  it('keeps keys sorted at every depth', () => {
    const check = (value: unknown, where: string): void => {
      if (Array.isArray(value)) value.forEach((v, i) => check(v, `${where}[${i}]`));
      else if (value && typeof value === 'object') {
        const keys = Object.keys(value);
        assert.deepEqual(keys, [...keys].sort(), where);
        for (const key of keys) check((value as Record<string, unknown>)[key], `${where}.${key}`);
      }
    };
    check(JSON.parse(readFileSync(COMMITTED, 'utf8')), '$');
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await t.http().get('/docs');
    assert.equal(res.status, 200);
    assert.match(res.text, /swagger-ui/);
  });
});
