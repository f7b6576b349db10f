import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ModelsModule } from '../models/models.module';
import { AdapterEntity } from './adapter.entity';
import { AdapterImportInterceptor } from './adapter-import.interceptor';
import { AdapterRegistrar } from './adapter.registrar';
import { AdaptersController } from './adapters.controller';
import { AdaptersRepository } from './adapters.repository';
import { AdaptersService } from './adapters.service';

@Module({
  imports: [TypeOrmModule.forFeature([AdapterEntity]), ModelsModule],
  controllers: [AdaptersController],
  providers: [AdaptersService, AdaptersRepository, AdapterRegistrar, AdapterImportInterceptor],
  exports: [AdaptersRepository, AdapterRegistrar],
})
export class AdaptersModule {}
