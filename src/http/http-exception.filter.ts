import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { TooManyRequestsException } from '../limits/too-many-requests.exception';
import { toHttpError } from './http-error';

/** A busy database is usually free again within the second. */
const BUSY_RETRY_AFTER_S = 1;

@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const errorBody = toHttpError(exception);
    if (errorBody.statusCode >= HttpStatus.INTERNAL_SERVER_ERROR) {
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    }
    if (response.headersSent) {
      // A streamed response failed midway: the status is gone, so the connection is the only signal left.
      response.destroy();
      return;
    }
    if (exception instanceof TooManyRequestsException) response.setHeader('Retry-After', String(exception.retryAfterS));
    else if (errorBody.statusCode === HttpStatus.SERVICE_UNAVAILABLE) response.setHeader('Retry-After', String(BUSY_RETRY_AFTER_S));
    response.status(errorBody.statusCode).json(errorBody);
  }
}
