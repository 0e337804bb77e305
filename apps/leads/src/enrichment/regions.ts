/** Sales regions leads are routed by. */
export type SalesRegion = 'EMEA' | 'NA' | 'APAC' | 'LATAM';

// The usual split of B2B sales territories; an operator's company table can set `region` per company instead.
const COUNTRIES: Record<SalesRegion, string> = {
  NA: 'US CA PM BM UM',
  LATAM:
    'MX GT BZ SV HN NI CR PA CU DO HT JM PR TT BS BB AG DM GD KN LC VC AW CW SX BQ KY TC VG VI AI MS GP MQ BL MF ' +
    'CO VE EC PE BO CL AR UY PY BR GY SR GF FK',
  APAC:
    'CN HK MO TW JP KR KP MN IN PK BD LK NP BT MV AF ID MY SG TH VN PH KH LA MM BN TL AU NZ PG FJ SB VU NC PF WS ' +
    'TO KI TV NR FM MH PW GU MP AS CK NU TK WF NF CX CC PN',
  EMEA:
    // Europe
    'AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GL GR HR HU IE IM IS IT JE LI LT LU LV MC MD ' +
    'ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK ' +
    // Middle East, Caucasus, Central Asia
    'AE BH IL IQ IR JO KW LB OM PS QA SA SY TR YE AM AZ GE KZ KG TJ TM UZ ' +
    // Africa
    'DZ AO BJ BW BF BI CV CM CF TD KM CG CD CI DJ EG GQ ER SZ ET GA GM GH GN GW KE LS LR LY MG MW ML MR MU YT MA ' +
    'MZ NA NE NG RE RW SH ST SN SC SL SO ZA SS SD TZ TG TN UG EH ZM ZW',
};

const REGION_OF = new Map<string, SalesRegion>(
  (Object.entries(COUNTRIES) as [SalesRegion, string][]).flatMap(([region, codes]) =>
    codes.split(' ').map((code) => [code, region] as const),
  ),
);

/** The sales region of an ISO 3166-1 alpha-2 country code (any case); undefined for unknown codes. */
export function regionOfCountry(country: string | undefined): SalesRegion | undefined {
  return country ? REGION_OF.get(country.toUpperCase()) : undefined;
}
