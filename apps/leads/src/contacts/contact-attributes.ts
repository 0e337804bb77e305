/**
 * What the lead service knows about who a contact is: from lead forms, identify traits, CRM records and enrichment. Fit rules,
 * routing rules and enrichment all read and write this one shape.
 */
export interface ContactAttributes {
  email?: string;
  firstName?: string;
  lastName?: string;
  title?: string;
  company?: string;
  /** The email's domain unless it is a free-mail or disposable one. */
  companyDomain?: string;
  /** Employees. */
  companySize?: number;
  industry?: string;
  /** ISO 3166-1 alpha-2, upper case. */
  country?: string;
  /** Sales region, e.g. EMEA, NA, APAC, LATAM. */
  region?: string;
  freeMail?: boolean;
  disposableEmail?: boolean;
  /** As given (E.164 expected by SMS providers; journeys check it when they send). */
  phone?: string;
  /** IANA zone, e.g. Europe/Berlin: journeys' quiet hours and local-time waits. */
  timezone?: string;
  /** Marketing consent per channel as the person last answered it; unknown is no consent. */
  emailMarketingConsent?: boolean;
  smsMarketingConsent?: boolean;
}

export type ContactAttributeName = keyof ContactAttributes;
