import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { SharedAccessModule } from '@tributary/access';
import { EventServiceModule } from '@tributary/runtime';
import type { OrchestrationConfig } from './config';
import { SendGridEmail, UnconfiguredEmail, type EmailProvider } from './channels/email-provider';
import { AudienceGuards, audienceGuardModelProviders } from './engine/audience-guards';
import { MessagingSettingsController, UnsubscribeController } from './engine/audience.controller';
import { engineModelProviders } from './engine/engine.models';
import { JourneyEventsHandler } from './engine/journey-events.handler';
import { JourneyIntake } from './engine/journey-intake.service';
import { JourneyRunner } from './engine/journey-runner.service';
import { EMAIL_PROVIDER, MessageSender, SMS_PROVIDER } from './engine/message-sender';
import { TwilioSms, UnconfiguredSms, type SmsProvider } from './channels/sms-provider';
import { captureJourneyBodies } from './journeys/journey-documents';
import { JourneysController } from './journeys/journeys.controller';
import { JourneyCatalog, journeyCatalogProviders } from './journeys/journey-catalog';

/**
 * The campaign engine: journeys written through the API (versioned, published, paused), contacts entering them from
 * the lead service's announcements, durable timers claimed with leases, and messages sent once through providers.
 */
@Module({})
export class OrchestrationModule {
  /** Journeys may be PUT as YAML: a text body parser for those content types. */
  static readonly configureApp = (app: INestApplication): void => captureJourneyBodies(app);

  static forRoot(config: OrchestrationConfig): DynamicModule {
    return {
      module: OrchestrationModule,
      imports: [EventServiceModule.forRoot(config), SharedAccessModule.forRoot(config)],
      controllers: [
        JourneysController,
        MessagingSettingsController,
        UnsubscribeController,
        JourneyEventsHandler,
      ],
      providers: [
        ...journeyCatalogProviders(config),
        JourneyCatalog,
        ...engineModelProviders,
        ...audienceGuardModelProviders,
        AudienceGuards,
        JourneyIntake,
        MessageSender,
        JourneyRunner,
        {
          provide: EMAIL_PROVIDER,
          useFactory: (): EmailProvider =>
            config.SENDGRID_API_KEY
              ? new SendGridEmail({
                  apiKey: config.SENDGRID_API_KEY,
                  baseUrl: config.SENDGRID_BASE_URL,
                  timeoutMs: config.PROVIDER_TIMEOUT_MS,
                })
              : new UnconfiguredEmail(),
        },
        {
          provide: SMS_PROVIDER,
          useFactory: (): SmsProvider =>
            config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN
              ? new TwilioSms({
                  accountSid: config.TWILIO_ACCOUNT_SID,
                  authToken: config.TWILIO_AUTH_TOKEN,
                  from: config.SMS_FROM,
                  baseUrl: config.TWILIO_BASE_URL,
                  timeoutMs: config.PROVIDER_TIMEOUT_MS,
                })
              : new UnconfiguredSms(),
        },
      ],
    };
  }
}
