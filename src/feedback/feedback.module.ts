import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdaptersModule } from '../adapters/adapters.module';
import { DatasetsModule } from '../datasets/datasets.module';
import { GenerationsModule } from '../generations/generations.module';
import { FeedbackSignalEntity } from './feedback-signal.entity';
import { FeedbackController } from './feedback.controller';
import { FeedbackRepository } from './feedback.repository';
import { FeedbackService } from './feedback.service';

@Module({
  imports: [TypeOrmModule.forFeature([FeedbackSignalEntity]), GenerationsModule, DatasetsModule, AdaptersModule],
  controllers: [FeedbackController],
  providers: [FeedbackService, FeedbackRepository],
})
export class FeedbackModule {}
