import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestApp, TestApp } from '../support/test-app';

const CHROMIUM = '/usr/bin/chromium';

/** Loads a page in headless Chromium and returns the DOM after its scripts have run. */
function dumpDom(url: string, profileDir: string): Promise<string> {
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profileDir}`,
    '--virtual-time-budget=5000',
    '--dump-dom',
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`chromium exited with ${code}:\n${stderr.slice(-2000)}`));
    });
  });
}

describe('Swagger UI in a real browser', () => {
  let t: TestApp;
  let profile: string;

  before(async () => {
    t = await startTestApp();
    profile = mkdtempSync(join(tmpdir(), 'saas-chromium-'));
  });
  after(async () => {
    await t?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('renders every operation at /docs', async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`,
    );
    const dom = await dumpDom(`${t.baseUrl}/docs`, profile);
    assert.match(dom, /Style-as-a-Service API/);
    const operationIds = [...dom.matchAll(/opblock-summary-operation-id">([A-Za-z]+)</g)].map((m) => m[1]);
    for (const id of ['getHealth', 'createTenant', 'listTenants', 'createDataset', 'uploadDatasetImages', 'getDataset', 'importAdapter', 'getAdapterWeights', 'listModels']) {
      assert.ok(operationIds.includes(id), `operation ${id} not rendered; found ${operationIds.join(', ')}`);
    }
    const paths = new Set([...dom.matchAll(/data-path="([^"]+)"/g)].map((m) => m[1]));
    for (const path of ['/health', '/v1/tenants', '/v1/datasets/{id}/images', '/v1/adapters/{id}/weights']) assert.ok(paths.has(path), path);
  });
});
