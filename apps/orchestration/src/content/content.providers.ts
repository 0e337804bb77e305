import { ContentAnnouncer } from './content-announcer';
import { ContentController, ContentDestinationsController } from './content.controller';
import { ContentItems } from './content-items';
import { contentModelProviders } from './content.models';
import { ContentPublisher } from './content-publisher.service';
import { DestinationSettings } from './destination-settings';
import { NewsletterSender } from './destinations/newsletter-sender';

/** The content workflow's HTTP API. */
export const contentControllers = [ContentController, ContentDestinationsController];

/**
 * The content workflow's providers. Besides the service's store, publisher and config, they need what journeys
 * provide: EMAIL_PROVIDER, AudienceGuards and the contact profiles (newsletters go through the same email channel).
 */
export const contentProviders = [
  ...contentModelProviders,
  ContentAnnouncer,
  ContentItems,
  DestinationSettings,
  NewsletterSender,
  ContentPublisher,
];
