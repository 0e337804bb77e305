// Local fakes of vendor APIs (SendGrid, Twilio, ad audiences, WordPress, LinkedIn posts, HubSpot CRM, Mailchimp audiences) for integration tests and the `npm start` sandbox.
export type {
  FakeHttpApiOptions,
  FakeRequest,
  InjectedFailure,
  RateLimit,
  WebhookDelivery,
} from './fake-http';
export {
  FakeSendGrid,
  type FakeSendGridMessage,
  type FakeSendGridOptions,
  type PostedEventBatch,
  type SendGridAddress,
  type SendGridEvent,
  type SendGridEventType,
} from './fake-sendgrid';
export {
  FakeTwilio,
  smsSegments,
  twilioSignature,
  type FakeTwilioMessage,
  type FakeTwilioOptions,
  type TwilioMessageStatus,
} from './fake-twilio';
export {
  RedirectingRequestClient,
  hubSpotClientFor,
  linkedInClientFor,
  mailchimpClientFor,
  type MailchimpClient,
  sendGridMailFor,
  twilioClientFor,
} from './sdk-clients';
export {
  FakeHubSpot,
  type FakeHubSpotOptions,
  type FakeHubSpotRecord,
  type HubSpotLimits,
  type HubSpotObjectType,
  type HubSpotPropertyVersion,
} from './fake-hubspot';
export {
  HubSpotWebhookSender,
  hubSpotSignatureV3,
  type HubSpotWebhookDelivery,
  type HubSpotWebhookEvent,
  type HubSpotWebhookOptions,
} from './hubspot-webhooks';
export {
  FakeWordPress,
  type FakeWordPressOptions,
  type FakeWordPressPost,
  type WordPressPostType,
  type WordPressStatus,
} from './fake-wordpress';
export { FakeLinkedIn, type FakeLinkedInOptions, type FakeLinkedInPost } from './fake-linkedin';
export {
  FakeAdAudiences,
  type AudienceAction,
  type FakeAdAudiencesOptions,
  type FakeAudienceMember,
  type FakeAudienceUpload,
} from './fake-ad-audiences';
export {
  FakeMailchimp,
  MEMBER_STATUSES,
  subscriberHash,
  type FakeMailchimpMember,
  type FakeMailchimpOptions,
  type MailchimpMergeField,
  type MemberStatus,
} from './fake-mailchimp';
