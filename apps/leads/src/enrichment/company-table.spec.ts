import { CompanyTableProvider, buildCompanyTable, parseCompanyTable } from './company-table';

const lookup = (table: ReturnType<typeof buildCompanyTable>, email: string) =>
  new CompanyTableProvider(table).enrich({ workspaceId: 'ws_test', email });

describe('company table', () => {
  it('knows the bundled companies by the email domain', async () => {
    await expect(lookup(buildCompanyTable(), 'ada@brightlane.example')).resolves.toEqual({
      company: 'Brightlane Analytics',
      companyDomain: 'brightlane.example',
      companySize: 420,
      industry: 'Software',
      country: 'DE',
      region: 'EMEA',
    });
    await expect(lookup(buildCompanyTable(), 'ada@unknown-co.example')).resolves.toEqual({});
  });

  it("lets the operator's rows replace bundled ones of the same domain and add new ones", async () => {
    const operator = parseCompanyTable(
      JSON.stringify([
        { domain: 'Brightlane.example', name: 'Brightlane GmbH', employees: 510, country: 'at' },
        { domain: 'zephyr-labs.example', name: 'Zephyr Labs', industry: 'SaaS', country: 'BR' },
      ]),
      'operator.json',
    );
    const table = buildCompanyTable(operator);
    // The whole bundled row is replaced (its industry is gone); region follows the operator's country.
    await expect(lookup(table, 'ada@brightlane.example')).resolves.toEqual({
      company: 'Brightlane GmbH',
      companyDomain: 'brightlane.example',
      companySize: 510,
      country: 'AT',
      region: 'EMEA',
    });
    await expect(lookup(table, 'bo@zephyr-labs.example')).resolves.toMatchObject({
      company: 'Zephyr Labs',
      region: 'LATAM',
    });
    await expect(lookup(table, 'cy@copperleaf.example')).resolves.toMatchObject({
      company: 'Copperleaf Software',
    });
  });

  it('refuses a malformed operator table, naming the file and the bad rows', () => {
    expect(() => parseCompanyTable('{"domain":', 'ops.json')).toThrow(/company table ops\.json: not JSON/);
    expect(() =>
      parseCompanyTable(
        JSON.stringify([{ domain: 'ok.example', name: 'Ok', country: 'Germany' }]),
        'ops.json',
      ),
    ).toThrow(/ops\.json: 0\.country: must be an ISO 3166-1 alpha-2 code/);
  });
});
