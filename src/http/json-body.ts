import { UnsupportedMediaTypeException } from '@nestjs/common';
import express, { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { toHttpError } from './http-error';

/** Media types read as JSON request bodies. */
export const JSON_MEDIA_TYPES = ['application/json', 'application/*+json'];

/**
 * A request body the route cannot use (malformed JSON, over the limit, a non-JSON content type). It
 * takes the body's place and the validation pipe throws its error, so only routes that read a body
 * report it, and only after authentication: a bad body without credentials is a 401 like any other.
 */
export class RejectedBody {
  constructor(readonly error: unknown) {}
}

/** body-parser's own failures carry a `type` ("entity.parse.failed", "entity.too.large", ...). */
function isBodyParserError(error: unknown): boolean {
  return typeof (error as { type?: unknown } | null)?.type === 'string';
}

function carriesBody(request: Request): boolean {
  return request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length']) > 0;
}

/**
 * JSON body parsing for every route. Any JSON value is parsed (not only objects and arrays), so the
 * validation pipe can answer "body must be a JSON object" instead of calling `"x"` invalid JSON.
 * Multipart bodies are left unread for the upload routes' own reader, which replaces the rejection.
 */
export function jsonBodyMiddleware(limitBytes: number): Array<RequestHandler | ErrorRequestHandler> {
  const deferParserErrors: ErrorRequestHandler = (error: unknown, request: Request, response: Response, next: NextFunction) => {
    if (isBodyParserError(error)) {
      request.body = new RejectedBody(error);
      return next();
    }
    if (response.headersSent) return next(error);
    const body = toHttpError(error);
    response.status(body.statusCode).json(body);
  };
  const requireJson: RequestHandler = (request: Request, _response: Response, next: NextFunction) => {
    if (request.body === undefined && carriesBody(request) && !request.is(JSON_MEDIA_TYPES)) {
      const given = request.headers['content-type'];
      request.body = new RejectedBody(new UnsupportedMediaTypeException(`Content-Type must be application/json, got ${given ? `"${given}"` : 'none'}`));
    }
    next();
  };
  return [express.json({ limit: limitBytes, type: JSON_MEDIA_TYPES, strict: false }), deferParserErrors, requireJson];
}
