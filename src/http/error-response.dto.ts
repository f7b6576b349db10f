import { ApiProperty } from '@nestjs/swagger';

/** The body of every error response. */
export class ErrorResponseDto {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiProperty({ example: 'name must be a string, got 42', description: 'What was wrong: the offending field, the first rule it broke and what was received.' })
  message: string;
}
