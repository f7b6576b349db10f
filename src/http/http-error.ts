import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { EntityNotFoundError, QueryFailedError } from 'typeorm';
import { InvalidStorageKeyError, StorageNotFoundError } from '../storage/storage.port';

/** The one error body of the API: `{ statusCode, error, message }`. */
export interface HttpErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

function body(statusCode: number, message: string): HttpErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

function messageOf(response: unknown, fallback: string): string {
  if (typeof response === 'string') return response;
  if (response && typeof response === 'object' && 'message' in response) {
    const message = (response as { message: unknown }).message;
    if (Array.isArray(message)) return message.map(String).join('; ');
    if (typeof message === 'string') return message;
  }
  return fallback;
}

/** Errors from body-parser/http-errors carry a `type` and a 4xx `status`. */
const BODY_PARSER_MESSAGES: Record<string, (error: { limit?: number; message: string }) => string> = {
  'entity.parse.failed': (e) => `Request body is not valid JSON: ${e.message}`,
  'entity.too.large': (e) => `Request body exceeds the limit of ${e.limit} bytes`,
  'encoding.unsupported': (e) => e.message,
  'charset.unsupported': (e) => e.message,
  'request.aborted': () => 'Request aborted by the client',
  'request.size.invalid': () => 'Request body size does not match Content-Length',
};

function fromDatabase(error: QueryFailedError): HttpErrorBody | undefined {
  const driverError = (error as QueryFailedError & { driverError?: { code?: string } }).driverError;
  const code = driverError?.code ?? '';
  // SQLite (better-sqlite3) and PostgreSQL (SQLSTATE) codes for constraint and input problems.
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') {
    return body(HttpStatus.CONFLICT, 'A resource with the same identity already exists');
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503') {
    return body(HttpStatus.CONFLICT, 'A referenced resource does not exist or is still in use');
  }
  if (code.startsWith('SQLITE_CONSTRAINT') || code.startsWith('23')) {
    return body(HttpStatus.BAD_REQUEST, 'Request violates a data constraint');
  }
  // Lock contention outlasting the busy timeout, deadlocks, serialization failures: retrying helps.
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === '40001' || code === '40P01' || code === '55P03') {
    return body(HttpStatus.SERVICE_UNAVAILABLE, 'The database is busy; retry shortly');
  }
  if (code === 'SQLITE_TOOBIG') return body(HttpStatus.PAYLOAD_TOO_LARGE, 'A value in the request is too large');
  if (code.startsWith('22')) return body(HttpStatus.BAD_REQUEST, 'A value in the request has the wrong form');
  return undefined;
}

/**
 * Maps anything thrown while serving a request to the API's error body. Known client mistakes
 * become 4xx with a message naming what was wrong; only genuine server faults are 500.
 */
export function toHttpError(error: unknown): HttpErrorBody {
  if (error instanceof HttpException) {
    const status = error.getStatus();
    return body(status, messageOf(error.getResponse(), error.message));
  }
  if (error instanceof StorageNotFoundError) return body(HttpStatus.NOT_FOUND, 'Stored object not found');
  if (error instanceof InvalidStorageKeyError) return body(HttpStatus.BAD_REQUEST, error.message);
  if (error instanceof EntityNotFoundError) return body(HttpStatus.NOT_FOUND, 'Resource not found');
  if (error instanceof QueryFailedError) {
    const mapped = fromDatabase(error);
    if (mapped) return mapped;
  }
  if (error instanceof URIError) return body(HttpStatus.BAD_REQUEST, 'Malformed percent-encoding in the URL');
  if (error && typeof error === 'object') {
    const candidate = error as { status?: unknown; statusCode?: unknown; type?: unknown; message?: unknown; limit?: number };
    const status = Number(candidate.status ?? candidate.statusCode);
    if (Number.isInteger(status) && status >= 400 && status < 500) {
      const describe = typeof candidate.type === 'string' ? BODY_PARSER_MESSAGES[candidate.type] : undefined;
      const message = String(candidate.message ?? STATUS_CODES[status]);
      return body(status, describe ? describe({ limit: candidate.limit, message }) : message);
    }
  }
  return body(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error');
}
