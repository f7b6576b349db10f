import { HttpException, HttpStatus } from '@nestjs/common';

/** 429 with a `Retry-After` (seconds) the exception filter turns into the header. */
export class TooManyRequestsException extends HttpException {
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message, HttpStatus.TOO_MANY_REQUESTS);
  }
}
