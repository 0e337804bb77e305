import { readFileSync } from 'node:fs';
import { Controller, Get, Header } from '@nestjs/common';
import { DASHBOARD_CSS, DASHBOARD_HTML } from './dashboard-page';
import { DASHBOARD_SCRIPT } from './dashboard-script';

/** ECharts from the pinned npm package, read once: the page must work offline and behind a strict proxy (no CDN). */
let echartsSource: string | undefined;
function echarts(): string {
  echartsSource ??= readFileSync(require.resolve('echarts/dist/echarts.min.js'), 'utf8');
  return echartsSource;
}

/**
 * The reporting dashboard (`GET /dashboard`): a public HTML shell and its script. The page asks for a key (or an OAuth
 * access token), keeps it in sessionStorage and reads the `reports:read` JSON API with it, so the page itself holds no
 * data and needs no session on the server. The page, script and styles are TypeScript strings so `tsc` ships them.
 */
@Controller('dashboard')
export class DashboardController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  // The page runs only its own scripts and talks only to this service (ECharts' tooltips carry inline styles).
  @Header(
    'content-security-policy',
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; " +
      "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  )
  page(): string {
    return DASHBOARD_HTML;
  }

  @Get('dashboard.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  @Header('cache-control', 'no-cache')
  script(): string {
    return DASHBOARD_SCRIPT;
  }

  @Get('dashboard.css')
  @Header('content-type', 'text/css; charset=utf-8')
  @Header('cache-control', 'no-cache')
  styles(): string {
    return DASHBOARD_CSS;
  }

  @Get('echarts.min.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  @Header('cache-control', 'public, max-age=86400')
  echarts(): string {
    return echarts();
  }
}
