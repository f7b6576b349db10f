import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import { sha256Hex } from '../../src/auth/api-key';
import { sql } from '../support/test-database';
import { bearer, createTenant, startTestApp, TEST_ADMIN_TOKEN, TestApp } from '../support/test-app';

const admin: [string, string] = ['Authorization', `Bearer ${TEST_ADMIN_TOKEN}`];

describe('tenants and authentication', () => {
  let t: TestApp;

  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('creates a tenant with the admin token and shows the key once', async () => {
    const res = await t.http().post('/v1/tenants').set(...admin).send({ name: '  Acme Studio  ' });
    assert.equal(res.status, 201);
    assert.deepEqual(Object.keys(res.body).sort(), ['apiKey', 'id', 'name', 'webhookSecret']);
    assert.equal(res.body.name, 'Acme Studio');
    assert.match(res.body.id, /^[0-9a-f-]{36}$/);
    assert.match(res.body.apiKey, /^sk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);

    const list = await t.http().get('/v1/tenants').set(...admin);
    assert.equal(list.status, 200);
    const listed = list.body.data.find((x: { id: string }) => x.id === res.body.id);
    assert.equal(listed.name, 'Acme Studio');
    assert.equal(listed.apiKey, undefined);
    assert.equal(listed.webhookSecret, undefined);
    assert.ok(!JSON.stringify(list.body).includes(res.body.apiKey));
  });

  it('stores only a SHA-256 hash of the key', async () => {
    const { id, apiKey } = await createTenant(t, 'Hashed');
    const rows = await sql(t.app.get(DataSource), 'SELECT prefix, hash FROM api_keys WHERE tenant_id = ?', [id]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].hash, sha256Hex(apiKey));
    assert.ok(apiKey.startsWith(`sk_${rows[0].prefix}_`));
    const dump = JSON.stringify(await sql(t.app.get(DataSource), 'SELECT * FROM api_keys'));
    // The secret part may itself contain '_' (base64url): cut it after the known prefix.
    const secret = apiKey.slice(`sk_${rows[0].prefix}_`.length);
    assert.equal(secret.length, 43);
    assert.ok(!dump.includes(secret));
  });

  it('answers missing or wrong credentials with 401 JSON', async () => {
    for (const [path, headers] of [
      ['/v1/tenants', {}],
      ['/v1/tenants', { Authorization: 'Bearer wrong-token-wrong-token' }],
      ['/v1/tenants', { Authorization: `Basic ${TEST_ADMIN_TOKEN}` }],
      ['/v1/datasets', {}],
      ['/v1/datasets', { Authorization: 'Bearer sk_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
      ['/v1/datasets', { Authorization: 'Bearer garbage' }],
      ['/v1/models', {}],
      ['/v1/adapters', {}],
    ] as const) {
      const res = await t.http().get(path).set(headers);
      assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.equal(res.body.statusCode, 401);
      assert.equal(res.body.error, 'Unauthorized');
      assert.equal(typeof res.body.message, 'string');
    }
  });

  it('keeps admin and tenant credentials apart', async () => {
    const { apiKey } = await createTenant(t, 'Separate');
    assert.equal((await t.http().post('/v1/tenants').set(...bearer(apiKey)).send({ name: 'x' })).status, 401);
    assert.equal((await t.http().get('/v1/tenants').set(...bearer(apiKey))).status, 401);
    assert.equal((await t.http().get('/v1/datasets').set(...admin)).status, 401);
  });

  it('rejects a key whose secret part was changed', async () => {
    const { apiKey } = await createTenant(t, 'Tampered');
    const last = apiKey.at(-1) === 'A' ? 'B' : 'A';
    const res = await t.http().get('/v1/datasets').set(...bearer(apiKey.slice(0, -1) + last));
    assert.equal(res.status, 401);
  });

  it('hides one tenant’s resources from another (404)', async () => {
    const a = await createTenant(t, 'Tenant A');
    const b = await createTenant(t, 'Tenant B');
    const created = await t.http().post('/v1/datasets').set(...bearer(a.apiKey)).send({ name: 'A private board' });
    assert.equal(created.status, 201);
    const id = created.body.id;

    assert.equal((await t.http().get(`/v1/datasets/${id}`).set(...bearer(a.apiKey))).status, 200);
    const get = await t.http().get(`/v1/datasets/${id}`).set(...bearer(b.apiKey));
    assert.equal(get.status, 404);
    assert.equal(get.body.statusCode, 404);
    assert.equal((await t.http().delete(`/v1/datasets/${id}`).set(...bearer(b.apiKey))).status, 404);
    const upload = await t.http().post(`/v1/datasets/${id}/images`).set(...bearer(b.apiKey)).attach('images', Buffer.from('x'), 'a.png');
    assert.equal(upload.status, 404);
    const listB = await t.http().get('/v1/datasets').set(...bearer(b.apiKey));
    assert.deepEqual(listB.body.data, []);
    const listA = await t.http().get('/v1/datasets').set(...bearer(a.apiKey));
    assert.deepEqual(listA.body.data.map((d: { id: string }) => d.id), [id]);
    // Still there for its owner after the other tenant's delete attempt.
    assert.equal((await t.http().get(`/v1/datasets/${id}`).set(...bearer(a.apiKey))).status, 200);
  });
});
