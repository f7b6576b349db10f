import { ArgumentsHost, BadRequestException, Logger, PayloadTooLargeException } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EntityNotFoundError, QueryFailedError } from 'typeorm';
import { toHttpError } from '../../src/http/http-error';
import { HttpExceptionFilter } from '../../src/http/http-exception.filter';
import { flattenValidationErrors } from '../../src/http/validation.pipe';
import { InvalidStorageKeyError, StorageNotFoundError } from '../../src/storage/storage.port';

function queryError(code: string): QueryFailedError {
  return new QueryFailedError('INSERT ...', [], Object.assign(new Error(code), { code }));
}

describe('error mapping', () => {
  it('keeps HttpException status and message', () => {
    assert.deepEqual(toHttpError(new BadRequestException('name must be a string')), {
      statusCode: 400,
      error: 'Bad Request',
      message: 'name must be a string',
    });
    assert.deepEqual(toHttpError(new BadRequestException(['a is bad', 'b is bad'])).message, 'a is bad; b is bad');
    assert.equal(toHttpError(new PayloadTooLargeException('too big')).statusCode, 413);
  });

  it('maps database constraint errors of SQLite and PostgreSQL to 4xx', () => {
    assert.equal(toHttpError(queryError('SQLITE_CONSTRAINT_UNIQUE')).statusCode, 409);
    assert.equal(toHttpError(queryError('23505')).statusCode, 409);
    assert.equal(toHttpError(queryError('SQLITE_CONSTRAINT_FOREIGNKEY')).statusCode, 409);
    assert.equal(toHttpError(queryError('23503')).statusCode, 409);
    assert.equal(toHttpError(queryError('SQLITE_CONSTRAINT_NOTNULL')).statusCode, 400);
    assert.equal(toHttpError(queryError('22001')).statusCode, 400);
    assert.equal(toHttpError(queryError('SQLITE_TOOBIG')).statusCode, 413);
    assert.equal(toHttpError(new EntityNotFoundError('DatasetEntity', {})).statusCode, 404);
  });

  it('maps lock contention of SQLite and PostgreSQL to 503 (retry), not 500', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', '40001', '40P01', '55P03']) {
      assert.deepEqual(toHttpError(queryError(code)), { statusCode: 503, error: 'Service Unavailable', message: 'The database is busy; retry shortly' }, code);
    }
    // The response tells the client when to retry.
    const sent: { headers: Record<string, string>; status?: number; body?: unknown } = { headers: {} };
    const response = {
      headersSent: false,
      setHeader: (name: string, value: string) => (sent.headers[name] = value),
      status: (status: number) => ((sent.status = status), response),
      json: (body: unknown) => (sent.body = body),
    };
    const host = { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost;
    const logError = Logger.prototype.error;
    Logger.prototype.error = () => undefined;
    try {
      new HttpExceptionFilter().catch(queryError('SQLITE_BUSY_SNAPSHOT'), host);
    } finally {
      Logger.prototype.error = logError;
    }
    assert.equal(sent.status, 503);
    assert.equal(sent.headers['Retry-After'], '1');
  });

  it('maps body-parser style errors by their status and type', () => {
    const tooLarge = Object.assign(new Error('request entity too large'), { status: 413, type: 'entity.too.large', limit: 1024 });
    assert.deepEqual(toHttpError(tooLarge), { statusCode: 413, error: 'Payload Too Large', message: 'Request body exceeds the limit of 1024 bytes' });
    const badJson = Object.assign(new SyntaxError('Unexpected token'), { status: 400, type: 'entity.parse.failed' });
    assert.match(toHttpError(badJson).message, /^Request body is not valid JSON/);
    assert.equal(toHttpError(Object.assign(new Error('x'), { statusCode: 415 })).statusCode, 415);
  });

  it('maps storage errors and hides unknown faults behind a plain 500', () => {
    assert.equal(toHttpError(new StorageNotFoundError('a/b')).statusCode, 404);
    assert.equal(toHttpError(new InvalidStorageKeyError('../x', 'bad')).statusCode, 400);
    assert.deepEqual(toHttpError(new Error('secret internal detail')), { statusCode: 500, error: 'Internal Server Error', message: 'Internal server error' });
    assert.equal(toHttpError(queryError('SQLITE_IOERR')).statusCode, 500);
    assert.equal(toHttpError(Object.assign(new Error('x'), { status: 503 })).statusCode, 500);
  });

  it('names nested fields by their full path, with the value received', () => {
    const messages = flattenValidationErrors([
      {
        property: 'adapters',
        children: [{ property: '0', children: [{ property: 'scale', value: 3, constraints: { max: 'scale must not be greater than 2' }, children: [] }] }],
      },
      { property: 'prompt', value: undefined, constraints: { isString: 'prompt must be a string' }, children: [] },
      { property: 'hyperparameters', children: [{ property: 'foo', value: 1, constraints: { whitelistValidation: 'property foo should not exist' }, children: [] }] },
    ]);
    assert.deepEqual(messages, [
      'adapters.0.scale must not be greater than 2, got 3',
      'prompt must be a string, but it is missing',
      'property hyperparameters.foo should not exist',
    ]);
  });

  it('reports one rule per field: a type check before range checks, else the first decorator', () => {
    // class-validator lists failures in reverse decorator order (`@IsInt() @Min(0) @Max(9)` gives max, min, isInt).
    const typeFirst = flattenValidationErrors([
      { property: 'seed', value: 'NaN', constraints: { max: 'seed must not be greater than 9', min: 'seed must not be less than 0', isInt: 'seed must be an integer number' } },
    ]);
    assert.deepEqual(typeFirst, ['seed must be an integer, got "NaN"']);
    const sourceOrder = flattenValidationErrors([
      { property: 'name', value: '', constraints: { maxLength: 'name must be shorter than or equal to 9 characters', isNotEmpty: 'name should not be empty' } },
    ]);
    assert.deepEqual(sourceOrder, ['name should not be empty, got ""']);
    const finite = flattenValidationErrors([
      { property: 'lr', value: Infinity, constraints: { isNumber: 'lr must be a number conforming to the specified constraints' } },
      { property: 'tags', value: [1, 2], constraints: { isString: 'each value in tags must be a string' } },
      { property: 'note', value: 'n'.repeat(500), constraints: { maxLength: 'note must be shorter than or equal to 200 characters' } },
    ]);
    assert.deepEqual(finite, [
      'lr must be a finite number, got a number beyond the double-precision range',
      'each value in tags must be a string, got an array of 2 items',
      'note must be shorter than or equal to 200 characters, got a string of 500 characters',
    ]);
  });
});
