import { orchestrationOpenApiDocument } from './openapi/api-docs';
import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { SharedAccessModule } from '@tributary/access';
import { EventServiceModule, serveApiDocs } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import type { Connection } from 'mongoose';
import type { OrchestrationConfig } from './config';
import { SendGridEmail, UnconfiguredEmail, type EmailProvider } from './channels/email-provider';
import { AudienceGuards, audienceGuardModelProviders } from './engine/audience-guards';
import { MessagingSettingsController, UnsubscribeController } from './engine/audience.controller';
import { engineModelProviders } from './engine/engine.models';
import { JourneyEventsHandler } from './engine/journey-events.handler';
import { ContactMerges } from './engine/contact-merges';
import { ConditionWaits } from './engine/condition-waits';
import { DeliveryFeedbackHandler } from './engine/delivery-feedback.handler';
import { DeliveryFeedback } from './engine/delivery-feedback.service';
import { JourneyIntake } from './engine/journey-intake.service';
import { JourneyRunner } from './engine/journey-runner.service';
import { JourneyScheduler, journeySchedulerModelProviders } from './engine/journey-scheduler.service';
import { EMAIL_PROVIDER, MessageSender, SMS_PROVIDER } from './engine/message-sender';
import { AD_AUDIENCES, StepEffects, WEBHOOK_POSTER } from './engine/step-effects';
import { CustomerMatchAudiences, UnconfiguredAudiences, type AdAudiences } from './channels/ad-audiences';
import { SignedWebhooks, type WebhookPoster } from './channels/signed-webhooks';
import { TwilioSms, UnconfiguredSms, type SmsProvider } from './channels/sms-provider';
import { GuardedEmail, GuardedSms, configuredGuard } from './channels/guarded-providers';
import { contentControllers, contentProviders } from './content/content.providers';
import { captureJourneyBodies } from './journeys/journey-documents';
import { JourneysController } from './journeys/journeys.controller';
import { JourneyPreviewController } from './journeys/journey-preview.controller';
import { OnsiteController, allowOnsiteOrigins } from './onsite/onsite.controller';
import { OnsiteSlots, onsiteSlotModelProviders } from './onsite/onsite-slots';
import { JourneyCatalog, journeyCatalogProviders } from './journeys/journey-catalog';

/**
 * The campaign engine: journeys written through the API (versioned, published, paused), contacts entering them from
 * the lead service's announcements, durable timers claimed with leases, and messages sent once through providers.
 */
@Module({})
export class OrchestrationModule {
  /** Journeys may be PUT as YAML: a text body parser for those content types. */
  static readonly configureApp = (app: INestApplication): void => {
    captureJourneyBodies(app);
    allowOnsiteOrigins(app);
    serveApiDocs(app, orchestrationOpenApiDocument);
  };

  static forRoot(config: OrchestrationConfig): DynamicModule {
    return {
      module: OrchestrationModule,
      imports: [EventServiceModule.forRoot(config), SharedAccessModule.forRoot(config)],
      controllers: [
        JourneysController,
        JourneyPreviewController,
        OnsiteController,
        MessagingSettingsController,
        UnsubscribeController,
        JourneyEventsHandler,
        DeliveryFeedbackHandler,
        ...contentControllers,
      ],
      providers: [
        ...journeyCatalogProviders(config),
        JourneyCatalog,
        ...engineModelProviders,
        ...audienceGuardModelProviders,
        AudienceGuards,
        ...onsiteSlotModelProviders,
        OnsiteSlots,
        JourneyIntake,
        ConditionWaits,
        ContactMerges,
        MessageSender,
        StepEffects,
        JourneyRunner,
        ...journeySchedulerModelProviders,
        JourneyScheduler,
        {
          provide: AD_AUDIENCES,
          useFactory: (): AdAudiences =>
            config.AD_AUDIENCES_BASE_URL && config.AD_AUDIENCES_CLIENT_ID && config.AD_AUDIENCES_CLIENT_SECRET
              ? new CustomerMatchAudiences({
                  baseUrl: config.AD_AUDIENCES_BASE_URL,
                  clientId: config.AD_AUDIENCES_CLIENT_ID,
                  clientSecret: config.AD_AUDIENCES_CLIENT_SECRET,
                  timeoutMs: config.PROVIDER_TIMEOUT_MS,
                  batchWindowMs: config.AUDIENCE_BATCH_WINDOW_MS,
                  maxBatchMembers: config.AUDIENCE_BATCH_MAX_MEMBERS,
                  // Retries end well within the enrollments' lease; then they wait on their timers.
                  maxRetryMs: Math.min(10_000, Math.floor(config.JOURNEY_TIMER_LEASE_MS / 3)),
                })
              : new UnconfiguredAudiences(),
        },
        {
          provide: WEBHOOK_POSTER,
          useFactory: (): WebhookPoster =>
            new SignedWebhooks({
              timeoutMs: config.PROVIDER_TIMEOUT_MS,
              allowPrivateNetworks: config.JOURNEY_WEBHOOK_ALLOW_PRIVATE,
            }),
        },
        DeliveryFeedback,
        ...contentProviders,
        {
          provide: EMAIL_PROVIDER,
          inject: [STORE_CONNECTION],
          useFactory: async (connection: Connection): Promise<EmailProvider> =>
            config.SENDGRID_API_KEY
              ? new GuardedEmail(
                  new SendGridEmail({
                    apiKey: config.SENDGRID_API_KEY,
                    baseUrl: config.SENDGRID_BASE_URL,
                    timeoutMs: config.PROVIDER_TIMEOUT_MS,
                  }),
                  await configuredGuard(connection, config, 'sendgrid', config.EMAIL_SENDS_PER_SECOND),
                )
              : new UnconfiguredEmail(),
        },
        {
          provide: SMS_PROVIDER,
          inject: [STORE_CONNECTION],
          useFactory: async (connection: Connection): Promise<SmsProvider> =>
            config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN
              ? new GuardedSms(
                  new TwilioSms({
                    accountSid: config.TWILIO_ACCOUNT_SID,
                    authToken: config.TWILIO_AUTH_TOKEN,
                    from: config.SMS_FROM,
                    baseUrl: config.TWILIO_BASE_URL,
                    timeoutMs: config.PROVIDER_TIMEOUT_MS,
                    statusCallbackBaseUrl: config.TWILIO_STATUS_CALLBACK_BASE_URL,
                  }),
                  await configuredGuard(connection, config, 'twilio', config.SMS_SENDS_PER_SECOND),
                )
              : new UnconfiguredSms(),
        },
      ],
    };
  }
}
