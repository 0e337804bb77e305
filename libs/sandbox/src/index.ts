// Local fakes of vendor APIs (SendGrid, Twilio) for integration tests and the `npm start` sandbox.
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
export { RedirectingRequestClient, sendGridMailFor, twilioClientFor } from './sdk-clients';
