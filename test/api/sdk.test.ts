import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

describe('TypeScript SDK', () => {
  it('is up to date with the committed spec (run `npm run sdk` after `npm run openapi`)', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'saas-sdk-'));
    try {
      const out = join(scratch, 'schema.ts');
      const cli = join(process.cwd(), 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
      execFileSync(process.execPath, [cli, join(process.cwd(), 'openapi', 'openapi.json'), '--default-non-nullable', 'false', '--output', out], { stdio: 'pipe' });
      assert.equal(readFileSync(join(process.cwd(), 'clients', 'typescript', 'schema.ts'), 'utf8'), readFileSync(out, 'utf8'));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
