import type { LeadCaptured, TrackingEvent } from '@tributary/contracts';
import type { ContactAttributes } from '../contacts/contact-attributes';

type Fields = Readonly<Record<string, unknown>>;

function parseObject(json: string | null | undefined): Fields {
  if (!json) return {};
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {};
  } catch {
    return {};
  }
}

function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function count(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value.replace(/[,_\s]/g, '')) : value;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.round(n) : undefined;
}

function country(value: unknown): string | undefined {
  const code = text(value)?.toUpperCase();
  return code && /^[A-Z]{2}$/.test(code) ? code : undefined;
}

/** An IANA zone the runtime knows (Intl validates it), else nothing: a typo must not shift quiet hours. */
function timezone(value: unknown): string | undefined {
  const zone = text(value);
  if (!zone) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** The first of several spellings a source may use for one field (forms and CRMs disagree on names). */
function pick(fields: Fields, ...names: string[]): unknown {
  for (const name of names) if (fields[name] !== undefined && fields[name] !== null) return fields[name];
  return undefined;
}

/** Drops undefined values, so a patch never clears what another source told us. */
function compact(attributes: ContactAttributes): ContactAttributes {
  return Object.fromEntries(
    Object.entries(attributes).filter(([, value]) => value !== undefined),
  ) as ContactAttributes;
}

function fromFlatFields(fields: Fields): ContactAttributes {
  return {
    title: text(pick(fields, 'title', 'jobTitle', 'job_title', 'jobtitle')),
    company: text(pick(fields, 'company', 'companyName', 'company_name')),
    companySize: count(pick(fields, 'companySize', 'company_size', 'employees', 'numberofemployees')),
    industry: text(pick(fields, 'industry')),
    country: country(pick(fields, 'country', 'countryCode', 'country_code')),
    region: text(pick(fields, 'region')),
    firstName: text(pick(fields, 'firstName', 'first_name', 'firstname')),
    phone: text(pick(fields, 'phone', 'phoneNumber', 'phone_number', 'mobilephone')),
    timezone: timezone(pick(fields, 'timezone', 'timeZone', 'time_zone')),
    lastName: text(pick(fields, 'lastName', 'last_name', 'lastname')),
  };
}

/** What a captured lead says about the person: the form's or CRM's own fields, the named ones winning. */
export function attributesOfLead(lead: LeadCaptured): ContactAttributes {
  const body = parseObject(lead.rawFieldsJson);
  // Lead forms may nest their answers under `fields` (the edge keeps the whole submitted body).
  const nested = body['fields'];
  const raw = fromFlatFields(
    typeof nested === 'object' && nested !== null && !Array.isArray(nested) ? { ...body, ...nested } : body,
  );
  return compact({
    ...raw,
    email: lead.email ?? undefined,
    firstName: lead.firstName ?? raw.firstName,
    lastName: lead.lastName ?? raw.lastName,
    company: lead.company ?? raw.company,
    emailMarketingConsent: lead.consents['email_marketing'],
    smsMarketingConsent: lead.consents['sms_marketing'],
  });
}

/** Segment identify traits (spec names, with `company` and `address` as objects or strings). */
export function attributesOfTraits(event: TrackingEvent): ContactAttributes {
  if (event.callType !== 'identify' && event.callType !== 'group') return {};
  const traits = parseObject(event.traitsJson);
  const flat = fromFlatFields(traits);
  const company = traits['company'];
  const address = traits['address'];
  const companyFields: Fields = typeof company === 'object' && company !== null ? (company as Fields) : {};
  const addressFields: Fields = typeof address === 'object' && address !== null ? (address as Fields) : {};
  return compact({
    ...flat,
    email: event.callType === 'identify' ? text(traits['email'])?.toLowerCase() : undefined,
    company: typeof company === 'string' ? text(company) : text(companyFields['name']),
    companySize: flat.companySize ?? count(pick(companyFields, 'employee_count', 'employees')),
    industry: flat.industry ?? text(companyFields['industry']),
    country: flat.country ?? country(addressFields['country']),
  });
}

/** Attributes a CRM property change carries (HubSpot property names). */
export function attributesOfCrmFields(fieldsJson: string): ContactAttributes {
  return compact(fromFlatFields(parseObject(fieldsJson)));
}

/** The CRM lifecycle stage a record change sets, when it is one the lead service follows (CRM owns late stages). */
export function crmStageOf(fieldsJson: string): 'opportunity' | 'customer' | null {
  const stage = text(parseObject(fieldsJson)['lifecyclestage'])?.toLowerCase();
  return stage === 'opportunity' || stage === 'customer' ? stage : null;
}

/** A shop order that was paid: the buyer is a customer. */
export function paidOrderEmail(fieldsJson: string): string | null {
  const fields = parseObject(fieldsJson);
  const status = text(fields['financialStatus'])?.toLowerCase();
  const email = text(fields['email']);
  return status === 'paid' && email ? email.toLowerCase() : null;
}
