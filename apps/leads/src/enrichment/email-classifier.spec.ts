import { EmailClassifier, classifyDomain } from './email-classifier';

const classifier = new EmailClassifier();
const classify = (email?: string, domain?: string) =>
  classifier.enrich({ workspaceId: 'ws_test', ...(email ? { email } : {}), ...(domain ? { domain } : {}) });

describe('email classifier', () => {
  it('flags a free-mail address and gives no company domain', async () => {
    await expect(classify('ada.lovelace@gmail.com')).resolves.toEqual({
      freeMail: true,
      disposableEmail: false,
    });
    await expect(classify('Ada@Outlook.COM')).resolves.toEqual({ freeMail: true, disposableEmail: false });
  });

  it('flags a disposable address as disposable only, though free-mail lists carry it too', async () => {
    expect(classifyDomain('mailinator.com')).toEqual({ freeMail: false, disposableEmail: true });
    await expect(classify('burner@mailinator.com')).resolves.toEqual({
      freeMail: false,
      disposableEmail: true,
    });
  });

  it("takes a business address's domain as the company domain", async () => {
    await expect(classify('ada@Brightlane.example')).resolves.toEqual({
      freeMail: false,
      disposableEmail: false,
      companyDomain: 'brightlane.example',
    });
  });

  it('takes the company website as the company domain when the email is free-mail', async () => {
    await expect(classify('ada@gmail.com', 'https://www.brightlane.example/contact')).resolves.toEqual({
      freeMail: true,
      disposableEmail: false,
      companyDomain: 'brightlane.example',
    });
  });

  it('classifies a bare domain, and says nothing without email or domain', async () => {
    await expect(classify(undefined, 'copperleaf.example')).resolves.toMatchObject({
      companyDomain: 'copperleaf.example',
    });
    await expect(classify(undefined, 'yahoo.com')).resolves.not.toHaveProperty('companyDomain');
    await expect(classify('not-an-email')).resolves.toEqual({});
  });
});
