import { Module } from '@nestjs/common';
import { LeadCapture } from './lead-capture.service';
import { LeadFormController } from './lead-form.controller';
import { LeadFormSubmissions } from './lead-form-submissions.service';

/** Lead capture forms, and the one publisher of `leads.captured` every channel uses. */
@Module({
  controllers: [LeadFormController],
  providers: [LeadCapture, LeadFormSubmissions],
  exports: [LeadCapture],
})
export class LeadCaptureModule {}
