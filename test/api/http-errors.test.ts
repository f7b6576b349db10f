import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, createTenant, startTestApp, TEST_ADMIN_TOKEN, TestApp } from '../support/test-app';

function assertErrorBody(body: unknown, statusCode: number): { message: string } {
  const b = body as { statusCode: number; error: string; message: string };
  assert.equal(b.statusCode, statusCode);
  assert.equal(typeof b.error, 'string');
  assert.equal(typeof b.message, 'string');
  assert.deepEqual(Object.keys(b).sort(), ['error', 'message', 'statusCode']);
  return b;
}

describe('HTTP errors', () => {
  let t: TestApp;
  let key: string;

  before(async () => {
    t = await startTestApp({ limits: { jsonBodyBytes: 2048 } });
    key = (await createTenant(t)).apiKey;
  });
  after(() => t.close());

  it('answers malformed JSON with 400', async () => {
    const res = await t.http().post('/v1/datasets').set(...bearer(key)).set('Content-Type', 'application/json').send('{"name": ');
    assert.equal(res.status, 400);
    assert.match(assertErrorBody(res.body, 400).message, /not valid JSON/);
  });

  it('answers a body over the JSON limit with 413', async () => {
    const res = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'x'.repeat(5000) });
    assert.equal(res.status, 413);
    assert.match(assertErrorBody(res.body, 413).message, /2048 bytes/);
  });

  it('names the offending field for validation errors', async () => {
    let res = await t.http().post('/v1/datasets').set(...bearer(key)).send({});
    assert.equal(res.status, 400);
    assert.match(assertErrorBody(res.body, 400).message, /^name /);

    res = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 42 });
    assert.equal(assertErrorBody(res.body, 400).message, 'name must be a string, got 42');

    res = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'ok', colour: 'red' });
    assert.equal(res.status, 400);
    assert.match(assertErrorBody(res.body, 400).message, /property colour should not exist/);

  });

  it('answers a non-JSON content type on a JSON route with 415', async () => {
    let res = await t.http().post('/v1/datasets').set(...bearer(key)).set('Content-Type', 'text/plain').send('name=x');
    assert.equal(res.status, 415);
    assert.equal(assertErrorBody(res.body, 415).message, 'Content-Type must be application/json, got "text/plain"');
    res = await t.http().post('/v1/datasets').set(...bearer(key)).field('name', 'x');
    assert.equal(res.status, 415);
    assert.match(assertErrorBody(res.body, 415).message, /^Content-Type must be application\/json, got "multipart\/form-data/);
    // No body at all is an empty object: the missing field is named.
    res = await t.http().post('/v1/datasets').set(...bearer(key));
    assert.equal(res.status, 400);
    assert.equal(assertErrorBody(res.body, 400).message, 'name must be a string, but it is missing');
  });

  it('answers valid JSON that is not an object with "body must be a JSON object"', async () => {
    for (const text of ['"x"', 'null', '1', 'true', '["not","an","object"]']) {
      const res = await t.http().post('/v1/datasets').set(...bearer(key)).set('Content-Type', 'application/json').send(text);
      assert.equal(res.status, 400, text);
      assert.equal(assertErrorBody(res.body, 400).message, 'body must be a JSON object', text);
    }
  });

  it('gives one message per field: the first rule broken and what was received', async () => {
    let res = await t.http().post('/v1/generations').set(...bearer(key)).send({ prompt: 'a fox', seed: 'NaN' });
    assert.equal(res.status, 400);
    assert.equal(assertErrorBody(res.body, 400).message, 'seed must be an integer, got "NaN"');

    res = await t.http().post('/v1/generations').set(...bearer(key)).send({ prompt: 'a fox', seed: -1, steps: 51 });
    assert.equal(assertErrorBody(res.body, 400).message, 'seed must not be less than 0, got -1; steps must not be greater than 50, got 51');

    // 1e309 is valid JSON that no double can hold.
    res = await t
      .http()
      .post('/v1/fine-tunes')
      .set(...bearer(key))
      .set('Content-Type', 'application/json')
      .send('{"datasetId":"8d2f5a6e-1c3b-4e7f-9a0b-5c6d7e8f9a0b","method":"sft","hyperparameters":{"lr":1e309}}');
    assert.equal(res.status, 400);
    assert.equal(assertErrorBody(res.body, 400).message, 'hyperparameters.lr must be a finite number, got a number beyond the double-precision range');

    res = await t.http().post('/v1/fine-tunes').set(...bearer(key)).send({ datasetId: '8d2f5a6e-1c3b-4e7f-9a0b-5c6d7e8f9a0b', method: 'sft', hyperparameters: 'fast' });
    assert.equal(assertErrorBody(res.body, 400).message, 'hyperparameters must be an object, got "fast"');

    res = await t.http().post('/v1/generations').set(...bearer(key)).send({ prompt: 'a fox', adapters: [{ scale: 'x' }] });
    assert.equal(assertErrorBody(res.body, 400).message, 'adapters.0.id must be a UUID, but it is missing; adapters.0.scale must be a finite number, got "x"');

    res = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'x'.repeat(201) });
    assert.equal(assertErrorBody(res.body, 400).message, 'name must be shorter than or equal to 200 characters, got a string of 201 characters');
  });

  it('authenticates before it reads the body', async () => {
    for (const text of ['{"name": ', 'null', '{"name": ""}']) {
      const res = await t.http().post('/v1/tenants').set('Content-Type', 'application/json').send(text);
      assert.equal(res.status, 401, text);
      assertErrorBody(res.body, 401);
    }
    const res = await t.http().post('/v1/tenants').set('Content-Type', 'text/plain').send('name=x');
    assert.equal(res.status, 401);
  });

  it('names a malformed id parameter', async () => {
    const res = await t.http().get('/v1/datasets/not-a-uuid').set(...bearer(key));
    assert.equal(res.status, 400);
    assert.equal(assertErrorBody(res.body, 400).message, 'id must be a UUID');
  });

  it('answers unknown routes and bad URL encoding with JSON 4xx', async () => {
    let res = await t.http().get('/v2/nothing');
    assert.equal(res.status, 404);
    assertErrorBody(res.body, 404);
    res = await t.http().get('/v1/datasets/%E0%A4%A').set(...bearer(key));
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    assert.equal(res.body.statusCode, res.status);
  });

  it('answers a wrong content type on an upload with 415', async () => {
    const created = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'd' });
    const res = await t.http().post(`/v1/datasets/${created.body.id}/images`).set(...bearer(key)).send({ images: [] });
    assert.equal(res.status, 415);
    assert.match(assertErrorBody(res.body, 415).message, /multipart\/form-data/);
  });

  it('answers a truncated multipart body with 400', async () => {
    const created = await t.http().post('/v1/datasets').set(...bearer(key)).send({ name: 'd' });
    const res = await t
      .http()
      .post(`/v1/datasets/${created.body.id}/images`)
      .set(...bearer(key))
      .set('Content-Type', 'multipart/form-data; boundary=XYZ')
      .send('--XYZ\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\n\r\nabc');
    assert.equal(res.status, 400);
    assert.match(assertErrorBody(res.body, 400).message, /multipart/i);
  });

  it('keeps the admin endpoints JSON too', async () => {
    const res = await t.http().post('/v1/tenants').set('Authorization', `Bearer ${TEST_ADMIN_TOKEN}`).send({ name: '' });
    assert.equal(res.status, 400);
    assert.match(assertErrorBody(res.body, 400).message, /name should not be empty/);
  });
});
