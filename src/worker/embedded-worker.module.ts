import { Module } from '@nestjs/common';
import { EmbeddedWorkerSupervisor } from './embedded-worker.supervisor';

@Module({ providers: [EmbeddedWorkerSupervisor], exports: [EmbeddedWorkerSupervisor] })
export class EmbeddedWorkerModule {}
