import { Module } from '@nestjs/common';
import { TrackingController, TrackingUnavailableFilter } from './tracking.controller';
import { TrackingIntake } from './tracking-intake.service';

/** Segment-compatible tracking API. */
@Module({ controllers: [TrackingController], providers: [TrackingIntake, TrackingUnavailableFilter] })
export class TrackingModule {}
