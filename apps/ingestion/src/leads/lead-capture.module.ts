import { Module } from '@nestjs/common';

/** Lead capture forms. */
@Module({})
export class LeadCaptureModule {}
