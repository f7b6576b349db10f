import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdaptersModule } from '../adapters/adapters.module';
import { DatasetsModule } from '../datasets/datasets.module';
import { ModelsModule } from '../models/models.module';
import { FineTuneEntity } from './fine-tune.entity';
import { FineTuneEventsService } from './fine-tune-events.service';
import { FineTunesController } from './fine-tunes.controller';
import { FineTunesRepository } from './fine-tunes.repository';
import { FineTunesService } from './fine-tunes.service';

@Module({
  imports: [TypeOrmModule.forFeature([FineTuneEntity]), DatasetsModule, AdaptersModule, ModelsModule],
  controllers: [FineTunesController],
  providers: [FineTunesService, FineTunesRepository, FineTuneEventsService],
  exports: [FineTunesRepository],
})
export class FineTunesModule {}
