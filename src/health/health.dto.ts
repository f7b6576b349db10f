import { ApiProperty } from '@nestjs/swagger';

export class HealthDto {
  @ApiProperty({ enum: ['ok', 'degraded'], example: 'ok' })
  status: 'ok' | 'degraded';

  @ApiProperty({ enum: ['ok', 'error'], example: 'ok', description: 'Whether the database answered a trivial query.' })
  db: 'ok' | 'error';

  @ApiProperty({ example: 3600, description: 'Seconds since the process started.' })
  uptimeS: number;
}
