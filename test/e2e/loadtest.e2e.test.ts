import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeTinyModel } from '../support/tiny-model';

describe('npm run loadtest', () => {
  it('starts the API on loopback, runs batched and unbatched rounds and prints one JSON line', async () => {
    const root = mkdtempSync(join(tmpdir(), 'saas-loadtest-test-'));
    try {
      const modelDir = await writeTinyModel(join(root, 'models'));
      const cli = join(__dirname, '..', '..', 'src', 'cli', 'loadtest.cli.js');
      const run = spawnSync(process.execPath, [cli, '--tenants', '2', '--requests', '6', '--steps', '2', '--model-dir', modelDir, '--timeout-s', '60'], {
        encoding: 'utf8',
        timeout: 90_000,
      });
      assert.equal(run.status, 0, run.stderr);
      const lines = run.stdout.trim().split('\n');
      assert.equal(lines.length, 1, run.stdout);
      const report = JSON.parse(lines[0]);
      assert.deepEqual([report.tenants, report.requests, report.steps], [2, 6, 2]);
      for (const mode of [report.batched, report.unbatched]) {
        assert.equal(mode.requests, 6);
        assert.ok(mode.p50Ms > 0 && mode.p95Ms >= mode.p50Ms && mode.imagesPerSecond > 0, JSON.stringify(mode));
      }
      assert.equal(report.unbatched.engineCalls, 6, 'one image per engine call without batching');
      assert.ok(report.batched.engineCalls < 6, `batching shares engine calls: ${report.batched.engineCalls}`);
      assert.equal(typeof report.throughputRatio, 'number');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
