import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** The first TypeScript block of the README's SDK section: it must compile and run as written. */
function readmeSdkSnippet(): string {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('## OpenAPI and SDK'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match, 'the README has a TypeScript SDK example');
  return match[1];
}

const BROWSER_CLIENT = `import { createSaasClient, multipart, type Schemas } from '@style-as-a-service/client';

export async function upload(datasetId: string, file: File, bytes: Uint8Array): Promise<Schemas['UploadResultDto']['added']> {
  const api = createSaasClient({ baseUrl: window.location.origin, apiKey: 'sk_from_the_login' });
  const { data, error } = await api.POST('/v1/datasets/{id}/images', {
    params: { path: { id: datasetId } },
    ...multipart([['images', file, file.name], ['images', bytes, 'b.png', 'image/png']]),
  });
  if (error) throw new Error(error.message);
  return data.added;
}
`;

describe('the SDK as a package a client installs', () => {
  const repo = process.cwd();
  let root: string;
  let project: string;
  let server: ServerProcess;

  function tsc(config: object): { status: number | null; output: string } {
    const file = join(project, `tsconfig.${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(config));
    const result = spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', file], { cwd: project, encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  }

  const strict = { target: 'ES2022', module: 'commonjs', moduleResolution: 'node', strict: true, skipLibCheck: false, esModuleInterop: true };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'saas-sdk-client-'));
    // npm pack builds dist/ first (prepack: the SDK's own tsconfig, DOM types, no Node types).
    const packed = spawnSync('npm', ['pack', '--pack-destination', root], { cwd: join(repo, 'clients', 'typescript'), encoding: 'utf8' });
    assert.equal(packed.status, 0, `${packed.stdout}${packed.stderr}`);
    const tarball = readdirSync(root).find((name) => name.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');

    // What `npm install <tarball>` lays out, without the registry: the package, its dependency, Node's types.
    project = join(root, 'my-app');
    const installed = join(project, 'node_modules', '@style-as-a-service', 'client');
    mkdirSync(installed, { recursive: true });
    const untar = spawnSync('tar', ['-xzf', join(root, tarball), '--strip-components=1', '-C', installed], { encoding: 'utf8' });
    assert.equal(untar.status, 0, untar.stderr);
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    assert.ok(manifest.dependencies['openapi-fetch'], 'openapi-fetch is a dependency of the package');
    symlinkSync(join(repo, 'node_modules', 'openapi-fetch'), join(project, 'node_modules', 'openapi-fetch'), 'dir');
    mkdirSync(join(project, 'node_modules', '@types'));
    symlinkSync(join(repo, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'), 'dir');

    mkdirSync(join(project, 'src'));
    writeFileSync(join(project, 'src', 'readme.ts'), readmeSdkSnippet());
    mkdirSync(join(project, 'browser'));
    writeFileSync(join(project, 'browser', 'upload.ts'), BROWSER_CLIENT);
    writeFileSync(join(project, 'fox.png'), await png(32, 32, undefined, 7));

    server = await startServerProcess({ DATA_DIR: join(root, 'data'), MODELS_DIR: join(root, 'models'), EMBEDDED_WORKER: 'false', ADMIN_TOKEN: 'sdk-package-admin-token-0123' });
  });

  after(async () => {
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('type-checks the README example with Node types, with and without the DOM library', () => {
    for (const lib of [['ES2022'], ['ES2022', 'DOM']]) {
      const result = tsc({ compilerOptions: { ...strict, lib, types: ['node'], noEmit: true }, files: ['src/readme.ts'] });
      assert.equal(result.status, 0, `lib ${lib.join(',')}:\n${result.output}`);
    }
  });

  it('type-checks a browser client (DOM types, no Node types)', () => {
    const result = tsc({ compilerOptions: { ...strict, lib: ['ES2022', 'DOM'], types: [], noEmit: true }, files: ['browser/upload.ts'] });
    assert.equal(result.status, 0, result.output);
  });

  it('runs the compiled README example against the server', async () => {
    const built = tsc({ compilerOptions: { ...strict, lib: ['ES2022'], types: ['node'], outDir: 'out' }, files: ['src/readme.ts'] });
    assert.equal(built.status, 0, built.output);
    const admin = createSaasClient({ baseUrl: server.baseUrl, apiKey: 'sdk-package-admin-token-0123' });
    const tenant = await admin.POST('/v1/tenants', { body: { name: 'SDK client' } });
    assert.equal(tenant.response.status, 201, JSON.stringify(tenant.error));
    const run = spawnSync(process.execPath, [join(project, 'out', 'readme.js')], {
      cwd: project,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, SAAS_URL: server.baseUrl, SAAS_KEY: tenant.data!.apiKey },
      timeout: 30_000,
    });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
    assert.equal(run.stdout.trim(), "[ 'a red fox' ]");
  });
});
