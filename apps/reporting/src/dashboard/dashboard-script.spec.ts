import { DASHBOARD_SCRIPT } from './dashboard-script';
import { DASHBOARD_HTML } from './dashboard-page';

describe('dashboard assets', () => {
  it('ship a script that parses (a stray dollar-brace or backtick in the string would break it)', () => {
    expect(() => new Function(DASHBOARD_SCRIPT)).not.toThrow();
    expect(DASHBOARD_SCRIPT).not.toContain('${');
  });

  it('load only their own scripts: no CDN, no inline script (the page is served with script-src self)', () => {
    const sources = [...DASHBOARD_HTML.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    expect(sources).toEqual([
      ' src="/dashboard/echarts.min.js" defer',
      ' src="/dashboard/dashboard.js" defer',
    ]);
  });
});
