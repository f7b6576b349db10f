import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { HealthDto } from './health.dto';

@Injectable()
export class HealthService {
  private readonly startedAt = Date.now();

  constructor(private readonly dataSource: DataSource) {}

  async check(): Promise<HealthDto> {
    let db: HealthDto['db'] = 'ok';
    try {
      await this.dataSource.query('SELECT 1');
    } catch {
      db = 'error';
    }
    return { status: db === 'ok' ? 'ok' : 'degraded', db, uptimeS: Math.floor((Date.now() - this.startedAt) / 1000) };
  }
}
