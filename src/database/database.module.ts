import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { buildDataSourceOptions } from './data-source-options';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: RuntimeConfig) => ({ ...buildDataSourceOptions(config.database), retryAttempts: 0 }),
    }),
  ],
})
export class DatabaseModule {}
