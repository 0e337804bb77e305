/**
 * The dashboard's HTML shell and styles. Every number the browser test reads sits in an element with a stable
 * `data-testid` (rows carry `data-key`, numeric cells `data-value` with the API's raw number).
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tributary reporting</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/dashboard.css">
<script src="/dashboard/echarts.min.js" defer></script>
<script src="/dashboard/dashboard.js" defer></script>
</head>
<body>
<header class="top">
  <h1>Tributary <span>reporting</span></h1>
  <span class="who" data-testid="signed-in-as" hidden></span>
  <button type="button" id="sign-out" data-testid="sign-out" hidden>Sign out</button>
</header>

<section id="login" class="login" data-testid="login-panel" hidden>
  <h2>Sign in</h2>
  <p>Use an API key with the <code>reports:read</code> scope (sent as HTTP Basic user, like a Segment write key), or
    an access token issued to an OAuth client (<code>POST /v1/oauth/token</code> on the edge, client credentials).
    It is kept in this tab only (sessionStorage).</p>
  <form id="login-form" autocomplete="off">
    <fieldset class="kind">
      <label><input type="radio" name="kind" value="key" checked data-testid="login-kind-key"> API key</label>
      <label><input type="radio" name="kind" value="token" data-testid="login-kind-token"> OAuth access token</label>
    </fieldset>
    <label>Key or token <input id="login-secret" name="secret" type="password" required data-testid="login-secret"></label>
    <button type="submit" data-testid="login-submit">Sign in</button>
  </form>
  <p id="login-error" class="error" role="alert" data-testid="login-error" hidden></p>
</section>

<main id="app" hidden>
  <nav class="tabs" role="tablist">
    <a href="#funnel" role="tab" data-page="funnel" data-testid="tab-funnel">Funnel</a>
    <a href="#attribution" role="tab" data-page="attribution" data-testid="tab-attribution">Attribution</a>
    <a href="#journeys" role="tab" data-page="journeys" data-testid="tab-journeys">Campaigns &amp; journeys</a>
    <a href="#health" role="tab" data-page="health" data-testid="tab-health">Health</a>
  </nav>

  <form id="filters" class="filters" data-testid="filters">
    <div class="range" data-for="funnel attribution journeys">
      <label>From <input type="date" name="from" data-testid="filter-from" required></label>
      <label>To <input type="date" name="to" data-testid="filter-to" required></label>
      <label>Grain <select name="grain" data-testid="filter-grain">
        <option value="hour">hour</option><option value="day" selected>day</option><option value="week">week</option>
      </select></label>
    </div>
    <div data-for="funnel">
      <label>Source <input name="source" list="sources" data-testid="filter-source" placeholder="any"></label>
      <label>Medium <input name="medium" list="media" data-testid="filter-medium" placeholder="any"></label>
      <label>Campaign <input name="campaign" list="campaigns" data-testid="filter-campaign" placeholder="any"></label>
      <label>Owner <input name="ownerId" list="owners" data-testid="filter-owner" placeholder="any"></label>
      <datalist id="sources"></datalist><datalist id="media"></datalist>
      <datalist id="campaigns"></datalist><datalist id="owners"></datalist>
    </div>
    <div data-for="attribution">
      <label>Conversion <select name="conversion" data-testid="filter-conversion">
        <option value="">all</option>
      </select></label>
      <label>Look-back (days) <input type="number" name="lookbackDays" min="1" max="365" step="1" data-testid="filter-lookback"></label>
      <label>Half-life (days) <input type="number" name="halfLifeDays" min="0.1" max="365" step="any" data-testid="filter-half-life"></label>
    </div>
    <div data-for="journeys">
      <label>Journey <input name="journeyId" list="journey-ids" data-testid="filter-journey" placeholder="any"></label>
      <label>Channel <select name="channel" data-testid="filter-channel">
        <option value="">any</option><option value="email">email</option><option value="sms">sms</option>
        <option value="audience">audience</option>
      </select></label>
      <datalist id="journey-ids"></datalist>
    </div>
    <div data-for="health">
      <label>Window <select name="window" data-testid="filter-window">
        <option value="24h" selected>last 24 hours</option><option value="7d">last 7 days</option>
      </select></label>
    </div>
    <button type="submit" data-testid="apply-filters">Apply</button>
  </form>

  <p id="page-error" class="error" role="alert" data-testid="page-error" hidden></p>

  <section id="page-funnel" class="page" data-testid="page-funnel" hidden>
    <p class="source">Numbers from <code data-testid="api-query"></code></p>
    <div class="charts">
      <figure><figcaption>People entering each stage</figcaption><div class="chart" data-testid="chart-funnel"></div></figure>
      <figure><figcaption>Stages entered per <span class="grain"></span></figcaption><div class="chart" data-testid="chart-funnel-trend"></div></figure>
    </div>
    <h2>Stages</h2>
    <table data-testid="funnel-table"><thead><tr>
      <th>Stage</th><th>Entered</th><th>Advanced</th><th>Conversion</th><th>Median days to advance</th>
      <th>Mean days to advance</th><th>In stage now</th>
    </tr></thead><tbody></tbody></table>
    <h2>Routing per owner</h2>
    <table data-testid="routing-table"><thead><tr>
      <th>Owner</th><th>Team</th><th>Assigned</th><th>Accepted</th><th>SLA breached</th><th>Breach rate</th>
      <th>Mean minutes to accept</th>
    </tr></thead><tbody></tbody></table>
  </section>

  <section id="page-attribution" class="page" data-testid="page-attribution" hidden>
    <p class="source">Numbers from <code data-testid="api-query"></code></p>
    <div class="kpis">
      <div><span>Conversions</span><strong data-testid="attribution-conversions"></strong></div>
      <div><span>Revenue</span><strong data-testid="attribution-revenue"></strong></div>
      <div><span>Look-back</span><strong data-testid="attribution-lookback"></strong></div>
      <div><span>Half-life</span><strong data-testid="attribution-half-life"></strong></div>
    </div>
    <ul class="kinds" data-testid="attribution-kinds"></ul>
    <figure><figcaption>Credit per channel, every model side by side</figcaption><div class="chart wide" data-testid="chart-attribution"></div></figure>
    <table data-testid="attribution-table"><thead></thead><tbody></tbody></table>
  </section>

  <section id="page-journeys" class="page" data-testid="page-journeys" hidden>
    <p class="source">Numbers from <code data-testid="api-query"></code></p>
    <figure><figcaption>Messages and conversions per <span class="grain"></span></figcaption><div class="chart wide" data-testid="chart-journeys-trend"></div></figure>
    <table data-testid="journeys-table"><thead><tr>
      <th>Journey</th><th>Step</th><th>Channel</th><th>Enrolled</th><th>Converted</th><th>Sent</th><th>Skipped</th>
      <th>Failed</th><th>Delivered</th><th>Bounced</th><th>Opened</th><th>Clicked</th><th>Unsubscribed</th>
      <th>Delivery rate</th><th>Open rate</th><th>Click rate</th><th>Conversion rate</th>
    </tr></thead><tbody></tbody></table>
  </section>

  <section id="page-health" class="page" data-testid="page-health" hidden>
    <p class="source">Numbers from <code data-testid="api-query"></code> (as of <span data-testid="health-generated"></span>)</p>
    <div class="alerts" data-testid="health-alerts"></div>
    <h2>Sync connections</h2>
    <table data-testid="connections-table"><thead><tr>
      <th>Connection</th><th>Connector</th><th>Object</th><th>State</th><th>Last success</th><th>Lag</th>
      <th>Failures in a row</th><th>Last error</th>
    </tr></thead><tbody></tbody></table>
    <h2>Topics</h2>
    <table data-testid="topics-table"><thead><tr>
      <th>Topic</th><th>State</th><th>Events</th><th>Events / min</th><th>Newest event</th><th>Latency p50</th>
      <th>p95</th><th>p99</th><th>Dead letters</th><th>Refused</th><th>Error rate</th>
    </tr></thead><tbody></tbody></table>
    <figure><figcaption>Events a minute, last 15 minutes</figcaption><div class="chart wide" data-testid="chart-health"></div></figure>
    <h2>Consumer lag</h2>
    <table data-testid="lag-table"><thead><tr><th>Consumer group</th><th>Topic</th><th>Lag (records)</th></tr></thead><tbody></tbody></table>
    <h2>Data quality</h2>
    <table data-testid="quality-table"><thead><tr><th>Source</th><th>Route</th><th>Records refused</th></tr></thead><tbody></tbody></table>
    <p>Late tracking calls: <strong data-testid="quality-late"></strong></p>
  </section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root { --ink: #1d2330; --muted: #5b6474; --line: #dde2ea; --bg: #f6f7f9; --accent: #2f6fdb; --bad: #c62828;
  --bad-bg: #fdecea; --ok: #2e7d32; --warn: #ad6800; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; color: var(--ink); background: var(--bg); }
.top { display: flex; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
.top h1 { font-size: 1.15rem; margin: 0; flex: 1; }
.top h1 span { color: var(--muted); font-weight: 400; }
.who { color: var(--muted); font-size: .9rem; }
button { font: inherit; padding: .35rem .9rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; }
#sign-out { background: #fff; color: var(--accent); }
.login { max-width: 34rem; margin: 3rem auto; padding: 1.5rem; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.login form { display: grid; gap: .8rem; }
.login .kind { border: 0; padding: 0; display: flex; gap: 1.2rem; }
.login input[type=password] { width: 100%; font: inherit; padding: .35rem; }
.error { color: var(--bad); background: var(--bad-bg); border: 1px solid var(--bad); padding: .5rem .8rem; border-radius: 4px; }
main { padding: 0 1.2rem 2rem; }
.tabs { display: flex; gap: .2rem; margin: 1rem 0 0; border-bottom: 1px solid var(--line); }
.tabs a { padding: .5rem 1rem; text-decoration: none; color: var(--muted); border: 1px solid transparent; border-bottom: 0; border-radius: 4px 4px 0 0; }
.tabs a.active { color: var(--ink); background: #fff; border-color: var(--line); }
.filters { display: flex; flex-wrap: wrap; align-items: end; gap: .6rem 1.2rem; background: #fff; padding: .8rem; border: 1px solid var(--line); border-top: 0; }
.filters > div { display: flex; flex-wrap: wrap; gap: .6rem; }
.filters label { display: grid; font-size: .8rem; color: var(--muted); gap: .15rem; }
.filters input, .filters select { font: inherit; padding: .2rem .3rem; min-width: 8rem; }
.page { margin-top: 1rem; }
.source { color: var(--muted); font-size: .85rem; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
figure { margin: 0 0 1rem; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .6rem; }
figcaption { font-size: .85rem; color: var(--muted); }
.chart { height: 300px; }
.chart.wide { height: 340px; }
table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1.2rem; font-size: .88rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: right; }
th:first-child, td.text { text-align: left; }
thead th { background: #eef1f5; }
tr.journey td { font-weight: 600; background: #fafbfc; }
tr.empty td { text-align: center; color: var(--muted); }
.kpis { display: flex; gap: 1rem; margin-bottom: .6rem; }
.kpis div { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .5rem 1rem; display: grid; }
.kpis span { color: var(--muted); font-size: .8rem; }
.kpis strong { font-size: 1.4rem; }
.kinds { color: var(--muted); font-size: .85rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 10px; font-size: .8rem; font-weight: 600; }
.badge.ok { color: var(--ok); background: #e8f5e9; }
.badge.bad { color: #fff; background: var(--bad); }
.badge.warn { color: #fff; background: var(--warn); }
tr.stalled td { background: var(--bad-bg); color: var(--bad); }
.alerts p { margin: .3rem 0; }
.alerts .all-clear { color: var(--ok); }
`;
