import { Module } from '@nestjs/common';
import { TrackController } from './track.controller';
import { TrackingIntake } from './tracking-intake.service';

/** Segment-compatible tracking API. */
@Module({ controllers: [TrackController], providers: [TrackingIntake] })
export class TrackingModule {}
