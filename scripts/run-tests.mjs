#!/usr/bin/env node
// Runs the compiled test files with Node's test runner. Arguments filter by path substring.
// Tiers: every test file on SQLite; then, with TEST_DATABASE_URL, the database-dependent API tests
// again on PostgreSQL; the scale-out tests (dist/test/scale-out, PostgreSQL + Redis) run in the first
// pass and check their own services. In CI (CI=true) a missing service is a failure, not a skip.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** API test files that touch the database: the PostgreSQL tier runs them again on PostgreSQL. */
const POSTGRES_TIER = [
  'dist/test/api/migrations.test.js',
  'dist/test/api/fine-tune-queue.test.js',
  'dist/test/api/auth-tenancy.test.js',
  'dist/test/api/datasets.test.js',
  'dist/test/api/fine-tunes.test.js',
  'dist/test/api/generations.test.js',
  'dist/test/api/feedback.test.js',
  'dist/test/api/limits.test.js',
  'dist/test/api/webhooks.test.js',
  'dist/test/api/metrics.test.js',
];

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

function run(files, env) {
  const concurrency = process.env.TEST_CONCURRENCY ?? '1';
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

const filters = process.argv.slice(2);
const matches = (f) => filters.length === 0 || filters.some((s) => f.includes(s));
const all = findTests('dist/test');
const files = all.filter(matches).sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const ci = process.env.CI === 'true' || process.env.CI === '1';
const missing = ['TEST_DATABASE_URL', 'TEST_REDIS_URL'].filter((name) => !process.env[name]?.trim());
const notRun = [];
let status = run(files, { SAAS_TEST_DB: 'sqlite' });

const postgresFiles = POSTGRES_TIER.filter((f) => all.includes(f) && matches(f));
if (postgresFiles.length > 0) {
  if (process.env.TEST_DATABASE_URL?.trim()) {
    console.log(`\n# PostgreSQL tier: ${postgresFiles.length} files on ${new URL(process.env.TEST_DATABASE_URL).host}`);
    status = run(postgresFiles, { SAAS_TEST_DB: 'postgres' }) || status;
  } else {
    notRun.push(`PostgreSQL tier (${postgresFiles.map((f) => f.replace('dist/test/', '')).join(', ')})`);
  }
}
const scaleOut = files.filter((f) => f.startsWith('dist/test/scale-out/'));
if (scaleOut.length > 0 && missing.length > 0) notRun.push(`scale-out tests (${scaleOut.map((f) => f.replace('dist/test/', '')).join(', ')})`);

if (notRun.length > 0) {
  const message = `${missing.join(' and ')} not set: these did not run:\n  - ${notRun.join('\n  - ')}\n(.ci/run starts PostgreSQL and Redis and sets both)`;
  if (ci) {
    console.error(`\nFAIL (CI): ${message}`);
    status = 1;
  } else {
    console.warn(`\nNOTE: ${message}`);
  }
}
process.exit(status);
