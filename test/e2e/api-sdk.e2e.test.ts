import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSaasClient, multipart, SaasClient } from '../../clients/typescript';
import { writeFakeModel } from '../support/fake-model';
import { jpeg, png, webp } from '../support/images';
import { peftLora } from '../support/safetensors';
import { startServerProcess, ServerProcess } from '../support/server-process';
import { buildZip } from '../support/zip-writer';

describe('API end to end through the TypeScript SDK', () => {
  let root: string;
  let env: Record<string, string>;
  let server: ServerProcess;
  let adminToken: string;
  let api: SaasClient;
  let apiKey: string;
  let datasetId: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'saas-e2e-'));
    env = { DATA_DIR: join(root, 'data'), MODELS_DIR: join(root, 'models') };
    writeFakeModel(env.MODELS_DIR, 'tiny-pixel', { card: '# Tiny pixel model\n' });
    server = await startServerProcess(env);
  });

  after(async () => {
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('reports health without credentials', async () => {
    const { data, response } = await createSaasClient({ baseUrl: server.baseUrl }).GET('/health');
    assert.equal(response.status, 200);
    assert.equal(data?.status, 'ok');
    assert.equal(data?.db, 'ok');
  });

  it('generates an admin token into DATA_DIR and says where', () => {
    const path = join(env.DATA_DIR, 'admin-token');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    adminToken = readFileSync(path, 'utf8').trim();
    assert.ok(adminToken.length >= 32);
    assert.ok(server.output().includes(path), 'the log names the token file');
    assert.ok(!server.output().includes(adminToken), 'the log never shows the token');
  });

  it('creates a tenant with the admin token', async () => {
    const admin = createSaasClient({ baseUrl: server.baseUrl, apiKey: adminToken });
    const { data, error, response } = await admin.POST('/v1/tenants', { body: { name: 'Acme' } });
    assert.equal(response.status, 201, JSON.stringify(error));
    assert.equal(data!.name, 'Acme');
    apiKey = data!.apiKey;
    api = createSaasClient({ baseUrl: server.baseUrl, apiKey });
    const listed = await admin.GET('/v1/tenants');
    assert.ok(listed.data!.data.some((t) => t.id === data!.id));
  });

  it('answers typed errors for missing credentials and unknown resources', async () => {
    const anonymous = createSaasClient({ baseUrl: server.baseUrl });
    const unauthorised = await anonymous.GET('/v1/datasets');
    assert.equal(unauthorised.response.status, 401);
    assert.equal(unauthorised.error?.statusCode, 401);
    const missing = await api.GET('/v1/datasets/{id}', { params: { path: { id: randomUUID() } } });
    assert.equal(missing.response.status, 404);
    assert.match(missing.error!.message, /not found/);
  });

  it('lists the installed base models', async () => {
    const { data } = await api.GET('/v1/models');
    assert.deepEqual(data!.data.map((m) => [m.id, m.resolution]), [['tiny-pixel', 32]]);
  });

  it('builds a dataset from image parts and a zip, with a training dry run', async () => {
    const created = await api.POST('/v1/datasets', { body: { name: 'Acme mood board' } });
    assert.equal(created.response.status, 201);
    datasetId = created.data!.id;

    const parts = await api.POST('/v1/datasets/{id}/images', {
      params: { path: { id: datasetId } },
      ...multipart([
        ['images', await png(32, 32, undefined, 1), 'fox.png', 'image/png'],
        ['images', await jpeg(40, 40, undefined, 2), 'hills.jpg', 'image/jpeg'],
        ['images', await webp(24, 24, undefined, 3), 'sun.webp', 'image/webp'],
        ['images', Buffer.from('definitely not an image'), 'broken.png', 'image/png'],
        ['captions', JSON.stringify(['a fox', 'green hills', 'a low sun', 'broken'])],
      ]),
    });
    assert.equal(parts.response.status, 200, JSON.stringify(parts.error));
    assert.deepEqual(parts.data!.added.map((a) => [a.filename, a.caption]), [
      ['fox.png', 'a fox'],
      ['hills.jpg', 'green hills'],
      ['sun.webp', 'a low sun'],
    ]);
    assert.deepEqual(parts.data!.rejected.map((r) => [r.filename, r.reason]), [['broken.png', 'corrupt']]);

    const zip = buildZip([
      { name: 'cat.png', data: await png(32, 32, undefined, 4), deflate: true },
      { name: 'cat.txt', data: Buffer.from('a cat in flat colours') },
    ]);
    const archive = await api.POST('/v1/datasets/{id}/images', {
      params: { path: { id: datasetId } },
      ...multipart([['archive', zip, 'board.zip', 'application/zip']]),
    });
    assert.deepEqual(archive.data!.added.map((a) => [a.filename, a.caption]), [['cat.png', 'a cat in flat colours']]);

    const detail = await api.GET('/v1/datasets/{id}', { params: { path: { id: datasetId } } });
    assert.equal(detail.data!.imageCount, 4);
    assert.equal(detail.data!.report.readyForFineTune, true);
    assert.equal(detail.data!.report.rejectedFiles, 1);
    assert.equal(detail.data!.report.trainingResolution, null, 'the default base model is not installed here');
    const list = await api.GET('/v1/datasets');
    assert.deepEqual(list.data!.data.map((d) => [d.id, d.imageCount]), [[datasetId, 4]]);
  });

  it('imports an adapter and downloads the file it describes', async () => {
    const file = peftLora(4, { rank: '4', lora_alpha: '8' });
    const imported = await api.POST('/v1/adapters', multipart([['name', 'acme-lora'], ['file', file, 'acme.safetensors']]));
    assert.equal(imported.response.status, 201, JSON.stringify(imported.error));
    assert.deepEqual([imported.data!.rank, imported.data!.alpha, imported.data!.format], [4, 8, 'peft']);
    const id = imported.data!.id;

    const weights = await api.GET('/v1/adapters/{id}/weights', { params: { path: { id } }, parseAs: 'arrayBuffer' });
    assert.equal(weights.response.headers.get('content-type'), 'application/octet-stream');
    const served = Buffer.from(weights.data as ArrayBuffer);
    // Stored as the engine writes adapters (alpha folded into lora_B): the row describes that file.
    assert.equal(served.length, imported.data!.bytes);
    assert.equal(createHash('sha256').update(served).digest('hex'), imported.data!.sha256);

    assert.deepEqual((await api.GET('/v1/adapters')).data!.data.map((a) => a.id), [id]);
    const deleted = await api.DELETE('/v1/adapters/{id}', { params: { path: { id } } });
    assert.equal(deleted.response.status, 204);
    assert.deepEqual((await api.GET('/v1/adapters')).data!.data, []);
  });

  it('keeps data and the admin token across a restart, then shuts down on SIGTERM', async () => {
    await server.stop();
    server = await startServerProcess(env);
    assert.ok(server.output().includes('using the one stored in'));
    const admin = createSaasClient({ baseUrl: server.baseUrl, apiKey: adminToken });
    assert.equal((await admin.GET('/v1/tenants')).response.status, 200);
    const tenant = createSaasClient({ baseUrl: server.baseUrl, apiKey });
    const detail = await tenant.GET('/v1/datasets/{id}', { params: { path: { id: datasetId } } });
    assert.equal(detail.data!.imageCount, 4);
    // Nest closes the app on SIGTERM, then re-raises the signal.
    const ended = await server.stop();
    assert.ok(ended.code === 0 || ended.signal === 'SIGTERM', JSON.stringify(ended));
  });
});
