/** The walking skeleton's one journey: every scored lead is welcomed, hot leads move to sales-ready nurture. */
export const WELCOME_JOURNEY = 'welcome';

/** Which step of the welcome journey a contact with this score belongs in. Pure. */
export function welcomeStepFor(
  score: number,
  nurtureThreshold: number,
): 'welcome-email' | 'sales-ready-nurture' {
  return score >= nurtureThreshold ? 'sales-ready-nurture' : 'welcome-email';
}
