import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdapterEntity } from './adapter.entity';
import { AdapterImportInterceptor } from './adapter-import.interceptor';
import { AdaptersController } from './adapters.controller';
import { AdaptersRepository } from './adapters.repository';
import { AdaptersService } from './adapters.service';

@Module({
  imports: [TypeOrmModule.forFeature([AdapterEntity])],
  controllers: [AdaptersController],
  providers: [AdaptersService, AdaptersRepository, AdapterImportInterceptor],
  exports: [AdaptersRepository],
})
export class AdaptersModule {}
