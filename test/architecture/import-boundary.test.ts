import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// The boundary rules of .dependency-cruiser.cjs, run on the real tree and on a tree that breaks each rule.
const repo = path.resolve(__dirname, '..', '..', '..');
const cli = path.join(repo, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const config = path.join(repo, '.dependency-cruiser.cjs');

function cruise(cwd: string): { rule: string; from: string; to: string }[] {
  const r = spawnSync(process.execPath, [cli, 'src', '--config', config, '--output-type', 'json'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  const report = JSON.parse(r.stdout) as { summary: { violations: { rule: { name: string }; from: string; to: string }[] } };
  return report.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}

test('the source tree keeps the import boundaries', () => {
  assert.deepEqual(cruise(repo), []);
});

test('each boundary rule fails on a deliberate violation', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-boundary-'));
  try {
    const write = (file: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    };
    fs.symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    write('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'commonjs', target: 'es2022', strict: true } }));
    write('src/engine/index.ts', "export { sample } from './pipeline/sampler';\n");
    // Framework and app imports inside the engine.
    write('src/engine/pipeline/sampler.ts', "import { Injectable } from '@nestjs/common';\nimport { tenantOf } from '../../tenants/tenant';\nexport const sample = () => [Injectable, tenantOf];\n");
    // The app reaching past the engine's index and into the lab.
    write('src/tenants/tenant.ts', "import { sample } from '../engine/pipeline/sampler';\nimport { catalog } from '../lab/catalog';\nexport const tenantOf = () => [sample, catalog];\n");
    write('src/lab/catalog.ts', 'export const catalog = 1;\n');
    // The webhook outbox reaching into a feature.
    write('src/webhooks/outbox.ts', "import { job } from '../fine-tunes/job';\nexport const outbox = () => job;\n");
    write('src/fine-tunes/job.ts', 'export const job = 1;\n');
    // A cycle.
    write('src/http/a.ts', "import { b } from './b';\nexport const a = () => b;\n");
    write('src/http/b.ts', "import { a } from './a';\nexport const b = () => a;\n");
    const rules = new Set(cruise(dir).map((v) => v.rule));
    for (const rule of ['engine-no-framework', 'engine-self-contained', 'lab-only-from-cli', 'engine-through-its-index', 'webhooks-take-envelopes', 'no-cycles']) {
      assert.ok(rules.has(rule), `rule ${rule} did not fire (fired: ${[...rules].join(', ')})`);
    }
    // The lint script exits non-zero on such a tree.
    assert.throws(() => execFileSync(process.execPath, [cli, 'src', '--config', config, '--output-type', 'err'], { cwd: dir, stdio: 'pipe' }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
