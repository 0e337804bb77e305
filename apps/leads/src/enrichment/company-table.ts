import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { ContactAttributes } from '../contacts/contact-attributes';
import bundledCompanies from './data/companies.json';
import {
  emailDomainOf,
  normalizeDomain,
  type EnrichmentProvider,
  type EnrichmentQuery,
} from './enrichment.port';
import { regionOfCountry } from './regions';

const companyRecordSchema = z.object({
  domain: z
    .string()
    .min(3)
    .transform((value, ctx) => {
      const domain = normalizeDomain(value);
      if (!domain?.includes('.')) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a domain' });
      return domain ?? value;
    }),
  name: z.string().min(1),
  employees: z.number().int().nonnegative().optional(),
  industry: z.string().min(1).optional(),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 code')
    .transform((value) => value.toUpperCase())
    .optional(),
  region: z.enum(['EMEA', 'NA', 'APAC', 'LATAM']).optional(),
});

/** One row of a company table: what we know about a company by its domain. */
export type CompanyRecord = z.infer<typeof companyRecordSchema>;

/** Company facts by lowercase domain. */
export type CompanyTable = ReadonlyMap<string, CompanyRecord>;

/** Parses a company table (a JSON array of records); the error names the source and every bad row. */
export function parseCompanyTable(json: string, source: string): CompanyRecord[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new Error(`company table ${source}: not JSON (${(error as Error).message})`);
  }
  const parsed = z.array(companyRecordSchema).safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(`company table ${source}: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The bundled table with the operator's rows on top: a row of theirs replaces ours for the same domain. */
export function buildCompanyTable(operatorRows: readonly CompanyRecord[] = []): CompanyTable {
  const bundled = parseCompanyTable(JSON.stringify(bundledCompanies), 'bundled');
  return new Map([...bundled, ...operatorRows].map((row) => [row.domain, row]));
}

/** The company table at boot: bundled, overridden by the operator's file (COMPANY_TABLE_PATH) when set. */
export async function loadCompanyTable(path?: string): Promise<CompanyTable> {
  if (!path) return buildCompanyTable();
  const text = await readFile(path, 'utf8').catch((error: Error) => {
    throw new Error(`company table ${path}: cannot read (${error.message})`);
  });
  return buildCompanyTable(parseCompanyTable(text, path));
}

/** Offline: company name, size, industry and territory of a known domain. */
export class CompanyTableProvider implements EnrichmentProvider {
  readonly name = 'company-table';

  constructor(private readonly table: CompanyTable) {}

  async enrich(query: EnrichmentQuery): Promise<Partial<ContactAttributes>> {
    const domain = normalizeDomain(query.domain) ?? emailDomainOf(query.email);
    const row = domain ? this.table.get(domain) : undefined;
    if (!row) return {};
    const region = row.region ?? regionOfCountry(row.country);
    return {
      company: row.name,
      companyDomain: row.domain,
      ...(row.employees !== undefined ? { companySize: row.employees } : {}),
      ...(row.industry ? { industry: row.industry } : {}),
      ...(row.country ? { country: row.country } : {}),
      ...(region ? { region } : {}),
    };
  }
}
