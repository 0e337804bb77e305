import { touchOf } from './touchpoints';

const call = (context: unknown, properties: unknown = {}) => ({
  contextJson: JSON.stringify(context),
  propertiesJson: JSON.stringify(properties),
});

describe('touchOf', () => {
  it('reads the campaign from Segment’s context.campaign before the URL', () => {
    expect(
      touchOf(
        call({
          campaign: { source: 'Newsletter', medium: 'Email', name: 'Winter' },
          page: { url: 'https://shop.example/?utm_source=google&utm_medium=cpc' },
        }),
      ),
    ).toEqual({ channel: 'newsletter / email', source: 'newsletter', medium: 'email', campaign: 'Winter' });
  });

  it('reads utm_* parameters of the page URL, from context.page or the page call’s properties', () => {
    const expected = { channel: 'google / cpc', source: 'google', medium: 'cpc', campaign: 'spring' };
    expect(
      touchOf(
        call({ page: { url: 'https://a.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring' } }),
      ),
    ).toEqual(expected);
    expect(
      touchOf(call({}, { url: 'https://a.example/x?utm_campaign=spring&utm_source=google&utm_medium=cpc' })),
    ).toEqual(expected);
  });

  it('names a missing medium and campaign rather than dropping the touch', () => {
    expect(touchOf(call({ page: { url: 'https://a.example/?utm_source=partner' } }))).toEqual({
      channel: 'partner / (none)',
      source: 'partner',
      medium: '(none)',
      campaign: '(not set)',
    });
  });

  it('classifies referrers: search engines are organic, social sites social, others referral', () => {
    const from = (referrer: string) =>
      touchOf(call({ page: { url: 'https://shop.example/', referrer } }))?.channel;
    expect(from('https://www.google.com/search?q=x')).toBe('google.com / organic');
    expect(from('https://t.co/abc')).toBe('t.co / social');
    expect(from('https://www.linkedin.com/feed')).toBe('linkedin.com / social');
    expect(from('https://news.ycombinator.com/item?id=1')).toBe('news.ycombinator.com / referral');
  });

  it('is no touch when direct, from the site itself, or unreadable', () => {
    expect(touchOf(call({ page: { url: 'https://shop.example/' } }))).toBeNull();
    expect(
      touchOf(call({ page: { url: 'https://www.shop.example/a', referrer: 'https://shop.example/b' } })),
    ).toBeNull();
    expect(touchOf(call({ page: { referrer: 'android-app://com.example' } }))).toBeNull();
    expect(touchOf({ contextJson: '{not json', propertiesJson: '[]' })).toBeNull();
  });
});
