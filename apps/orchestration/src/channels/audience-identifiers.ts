import { createHash } from 'node:crypto';

/**
 * Contact identifiers as ad platforms match them (Google Customer Match, Meta custom audiences): normalised, then
 * SHA-256 as lower-case hex. Only the hashes leave orchestration.
 */

/** One audience member as the platform takes it: at least one hashed identifier. */
export interface HashedMember {
  hashedEmail?: string;
  hashedPhoneNumber?: string;
}

// Loose on purpose: the platform, not us, decides what it can match; this only refuses what cannot be an address.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const E164 = /^\+[1-9]\d{6,14}$/;

/** An email as the platforms hash it: trimmed and lower-cased (dots in gmail addresses kept); null if not one. */
export function normalisedEmail(raw: string): string | null {
  const email = raw.trim().toLowerCase();
  return EMAIL.test(email) ? email : null;
}

/**
 * A phone number in E.164 (`+` and 7 to 15 digits): spaces, dashes, dots and brackets dropped, a leading `00` read
 * as `+`. A number without its country code is null: guessing the country would match someone else.
 */
export function normalisedPhone(raw: string): string | null {
  let phone = raw.trim().replace(/[\s\-().]/g, '');
  if (phone.startsWith('00')) phone = `+${phone.slice(2)}`;
  return E164.test(phone) ? phone : null;
}

/** SHA-256 of the UTF-8 text as lower-case hex, the form the platforms require. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The contact's `email` and `phone` attributes as a hashed member; null when it has neither in a usable form. */
export function hashedMemberOf(attributes: Readonly<Record<string, string>>): HashedMember | null {
  const email = attributes['email'] ? normalisedEmail(attributes['email']) : null;
  const phone = attributes['phone'] ? normalisedPhone(attributes['phone']) : null;
  if (email === null && phone === null) return null;
  return {
    ...(email === null ? {} : { hashedEmail: sha256Hex(email) }),
    ...(phone === null ? {} : { hashedPhoneNumber: sha256Hex(phone) }),
  };
}
